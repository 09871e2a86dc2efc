"""API fixtures live in tests/conftest.py (the security suite uses them too)."""
