"""Test settings: the real PostgreSQL on this machine, fast password hashing, temporary storage."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import STORAGES, env

SECRET_KEY = "test-only-key"  # noqa: S105 (tests only)
DEBUG = False
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/dr_portal")
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PRIVATE_MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="dr_portal_test_media_"))
STORAGES = {
    **STORAGES,
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_MEDIA_ROOT / "other"},
    },
    "fundus": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_MEDIA_ROOT / "fundus"},
    },
}
