"""Settings shared by every environment. Everything that differs between machines comes from
environment variables (see `.env.example`); the per-environment modules only change defaults."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local `.env` file is a convenience for development; production sets real environment variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "accounts",
    "patients",
    "screening",
    "audit",
    "api",
    "axes",
    "csp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "accounts.middleware.NoStoreWhenSignedInMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
]

ROOT_URLCONF = "dr_portal.urls"
WSGI_APPLICATION = "dr_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.roles",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Clinical workstations are shared: a session ends after an idle period.
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Sign-in protection (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from
# one address, that pair is locked out for the cool-off period. Its backend must come first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("DJANGO_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("DJANGO_LOGIN_COOLOFF_HOURS", default=0.5)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "audit.request_info.client_ip"
# Number of reverse proxies in front of Django that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
# One-time set-password links (invitations, admin resets) expire after this many seconds.
PASSWORD_RESET_TIMEOUT = env.int("DJANGO_PASSWORD_LINK_SECONDS", default=3 * 24 * 3600)

# Email (invitations and password links). The embedded default prints messages to the console.
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="DR Portal <drportal@localhost>")

# Content Security Policy (django-csp): only this origin's scripts, styles and images; no inline
# scripts or styles, no plugins, no framing. Pico's icons are data: SVGs in its stylesheet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LANGUAGE_CODE = "en-gb"
FORMAT_MODULE_PATH = ["dr_portal.formats"]  # one date and time format everywhere
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Fundus photographs are clinical data: they live in private storage (never under STATIC or a
# public MEDIA_URL) and are served only by views that check role and site.
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(BASE_DIR / "private_media")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_MEDIA_ROOT / "other", "base_url": "/nonexistent/"},
    },
    "fundus": {
        "BACKEND": env(
            "FUNDUS_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": env.json(
            "FUNDUS_STORAGE_OPTIONS",
            default={"location": str(PRIVATE_MEDIA_ROOT / "fundus"), "base_url": "/nonexistent/"},
        ),
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Upload limits. Bytes guard the disk; pixels guard memory against decompression bombs.
FUNDUS_MAX_UPLOAD_BYTES = env.int("FUNDUS_MAX_UPLOAD_MB", default=30) * 1024 * 1024
FUNDUS_MAX_PIXELS = env.int("FUNDUS_MAX_MEGAPIXELS", default=40) * 1_000_000
FUNDUS_MIN_SIDE_PX = env.int("FUNDUS_MIN_SIDE_PX", default=128)
FUNDUS_THUMBNAIL_PX = 320
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Keeps each file's name as sent, so a name with a path is refused rather than silently shortened.
FILE_UPLOAD_HANDLERS = [
    "screening.upload_handlers.KeepNameAsSentUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# --- Grading queue (Celery on Redis) -----------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
# Publishing fails fast when Redis is down or unreachable: one connection attempt (no retries, see
# screening.services.grading.dispatch) bounded by the socket timeouts below, so an upload answers
# at once and its job stays queued for the sweeper to send later. visibility_timeout: when Redis
# itself redelivers an unacknowledged task (the sweeper acts long before).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 10,
    "visibility_timeout": 3600,
    **env.json("CELERY_BROKER_TRANSPORT_OPTIONS", default={}),
}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True  # results live in PostgreSQL (GradingJob), not in Celery
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A new worker child loads TensorFlow and the model before it reports "up" to its parent; Celery's
# default (4 s) would kill it mid-load and start another, forever, after any child death.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("GRADING_MODEL_LOAD_TIMEOUT_SECONDS", default=300.0)
CELERY_TASK_DEFAULT_QUEUE = "grading"
CELERY_TASK_ROUTES = {"screening.tasks.*": {"queue": "grading"}}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-grading-jobs": {
        "task": "screening.tasks.requeue_stale_jobs",
        "schedule": env.float("GRADING_SWEEP_SECONDS", default=15.0),
    }
}
# The model a worker loads (its folder holds model_card.json with the model version).
GRADING_WEIGHTS_DIR = env("GRADING_WEIGHTS_DIR", default=str(BASE_DIR / "ml" / "weights"))
# Batching: a worker grades up to BATCH_SIZE queued images together, waiting up to BATCH_WAIT
# seconds for the batch to fill. Larger batches make GPU workers fast; 1 disables batching.
GRADING_BATCH_SIZE = env.int("GRADING_BATCH_SIZE", default=8)
GRADING_BATCH_WAIT_SECONDS = env.float("GRADING_BATCH_WAIT_SECONDS", default=0.5)
# A worker grading a batch refreshes its jobs' heartbeat this often; a running job whose heartbeat
# has been silent for STALE_AFTER seconds lost its worker and is queued again by the sweeper.
GRADING_HEARTBEAT_SECONDS = env.float("GRADING_HEARTBEAT_SECONDS", default=5.0)
GRADING_STALE_AFTER_SECONDS = env.float("GRADING_STALE_AFTER_SECONDS", default=30.0)
# A queued job not picked up within this time is sent to the broker again (lost message).
GRADING_REDISPATCH_AFTER_SECONDS = env.int("GRADING_REDISPATCH_AFTER_SECONDS", default=1800)
GRADING_MAX_ATTEMPTS = env.int("GRADING_MAX_ATTEMPTS", default=3)

# --- Doctors' review (two readers) -------------------------------------------------------------
# A second, blind doctor's grading is needed before sign-off when the doctor's grade of an eye
# differs from the AI's by at least STEP_DIFF steps, or (ON_REFERABLE_CHANGE) crosses the referable
# line (grade 2), or (ON_GRADABILITY_CHANGE) one of them calls the eye ungradable. The same rule
# between the two doctors (plus DME present/absent) sends the visit to arbitration by a third.
REVIEW_SECOND_READER_STEP_DIFF = env.int("REVIEW_SECOND_READER_STEP_DIFF", default=2)
REVIEW_SECOND_READER_ON_REFERABLE_CHANGE = env.bool(
    "REVIEW_SECOND_READER_ON_REFERABLE_CHANGE", default=True
)
REVIEW_SECOND_READER_ON_GRADABILITY_CHANGE = env.bool(
    "REVIEW_SECOND_READER_ON_GRADABILITY_CHANGE", default=True
)
# Worklist: an AI result is urgent at grade 4, or when referable with at least this probability.
# After this long, another doctor of the site may withdraw a colleague's draft reading and redo it.
REVIEW_DRAFT_STALE_HOURS = env.int("REVIEW_DRAFT_STALE_HOURS", default=24)

# --- REST API (api/) ----------------------------------------------------------------------------
# Token authentication for integrating systems, session authentication for the web application's
# users; requests per token (per user for sessions, per address when anonymous) are throttled.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.RolePolicy"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerTokenThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests a token may make per period ("600/minute"; periods: second, minute, hour, day).
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="600/minute")
# The throttle counts in the cache: share one (Redis) between processes in production.
CACHES = {"default": env.cache("DJANGO_CACHE_URL", default="locmemcache://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "DR Portal API",
    "DESCRIPTION": (
        "Register patients and visits, upload fundus photographs, poll AI grading results and "
        "fetch signed reports (JSON, PDF, FHIR R4). Authenticate with `Authorization: Token "
        "<token>` (tokens are issued by administrators). Errors share one body: "
        '`{"error": {"status", "code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VisitStatusEnum": "screening.models.Visit.Status",
        "GradingStatusEnum": "screening.models.GradingJob.Status",
    },
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Redacts patient data that database errors put into messages and tracebacks.
    "filters": {
        "redact": {"()": "audit.log_filters.RedactPatientDataFilter"},
        "client_errors_briefly": {"()": "audit.log_filters.NoTracebackForClientErrorsFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors_briefly", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Once, through our console handler (Django's own would print each request error again).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
