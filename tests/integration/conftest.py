from tests.workers import clean_broker, start_worker

__all__ = ["clean_broker", "start_worker"]
