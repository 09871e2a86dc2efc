"""The embedded default: SQLite, local files, debug pages. For one laptop, never for patients."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-only-insecure-key-change-me")

# Grading without Redis: Celery's filesystem transport passes tasks through a local folder to the
# worker that scripts/run.sh starts beside the web server. Same task code as production.
if not env("CELERY_BROKER_URL", default=""):
    _queue = Path(env("CELERY_QUEUE_DIR", default=str(BASE_DIR / ".queue")))  # noqa: F405
    for _sub in ("out", "processed", "control"):
        (_queue / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "out"),
        "data_folder_out": str(_queue / "out"),
        "data_folder_processed": str(_queue / "processed"),
        # exchange tables; kombu's default is ./control, which would land in the repository
        "control_folder": str(_queue / "control"),
        "store_processed": False,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # web server and worker share the file: wait for the other's write lock instead of failing
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20  # noqa: F405
