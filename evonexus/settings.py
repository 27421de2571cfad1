"""Settings, read from the environment (see README "Configuration")."""

import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from evonexus.env import env_bool, env_float, env_int, env_list, env_seconds_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105 (refused unless DEBUG)
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
if SECRET_KEY == _DEV_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries need a scheme, e.g. https://{_origin}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    "django_tasks_rq",
    "triggers",
    "whatsapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "evonexus.middleware.RejectNulInQueryMiddleware",
    # Serves the admin's static files from the WSGI server itself (no nginx needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "evonexus.urls"
WSGI_APPLICATION = "evonexus.wsgi.application"

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
                "triggers.operate.context_processors.gateway_banner",
            ],
        },
    },
]


# PostgreSQL's connection pool, per process (psycopg_pool, through Django): see below.
DATABASE_POOL = {
    "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
    "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
    # Waiting longer for a connection than a sender waits for an answer helps nobody.
    "timeout": env_int("DATABASE_POOL_TIMEOUT_SECONDS", 10, minimum=1),
}
# Django turns psycopg's prepared statements off (for PgBouncer in transaction mode, where
# a statement prepared on one server connection is unknown on the next). Ours are on:
# PostgreSQL then parses and plans the webhook's statement once per pooled connection
# instead of on every request (0.68 -> 0.40 ms of server CPU per event, measured). Turn
# them off only behind a pooler that cannot keep them.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", default=True)


def _database_from_url(url: str) -> dict:
    """Return Django's DATABASES entry for `url` (sqlite:///path or postgres://...)."""
    try:
        database = dj_database_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # The embedded default: WAL lets readers run beside the one writer,
        # IMMEDIATE transactions take the write lock up front (no upgrade
        # deadlocks) and the timeout makes concurrent writers queue.
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 30, minimum=1),
        }
        # One connection per thread, kept: a new one costs more than most requests
        # (Django registers its SQL functions, the PRAGMAs run, SQLite reads the
        # schema and compiles every statement again, the rollup's counting hooks inside).
        # In-process: 2.25 -> 0.26 ms per bare INSERT request, 3.1 -> 0.77 ms per event.
        database["CONN_MAX_AGE"] = None
    elif database["ENGINE"] == "django.db.backends.postgresql":
        # A pool per process (psycopg_pool): a request borrows an open connection
        # and gives it back, with no health-check query in front of its first
        # statement. A connection the server dropped (a restart) fails the one
        # request that finds it, with a 5xx the sender retries, and is replaced.
        # Server-side binding: the values travel apart from the SQL. With prepared
        # statements on, psycopg prepares a statement on its 5th run on a connection.
        database["OPTIONS"] = {
            "pool": dict(DATABASE_POOL),
            "server_side_binding": True,
            "prepare_threshold": 5 if DATABASE_PREPARED_STATEMENTS else None,
        }
    else:
        raise ImproperlyConfigured("DATABASE_URL must be a sqlite:// or postgres:// URL")
    return database


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Without `collectstatic`, WhiteNoise can serve straight from the apps (slower start-up).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", default=DEBUG)
if WHITENOISE_USE_FINDERS:
    # Files come from the apps then; a missing STATIC_ROOT is expected, not a mistake.
    warnings.filterwarnings("ignore", message="No directory at: ")

# Background tasks: the database queue is the embedded default; TASKS_BACKEND=rq
# moves them to Redis (REDIS_URL), run by `manage.py rqworker`.
TASKS_BACKEND = env_str("TASKS_BACKEND", "database")
RQ_QUEUES = {"default": {"URL": env_str("REDIS_URL", "redis://127.0.0.1:6379/0")}}
# django-rq's admin section is only worth showing when RQ holds the tasks.
RQ_SHOW_ADMIN_LINK = TASKS_BACKEND == "rq"
if TASKS_BACKEND == "database":
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_db.DatabaseBackend",
            # Time-ordered task ids: the queue table's primary key grows at its right
            # edge, where a random UUID would touch a random index page per event.
            "OPTIONS": {"id_function": "triggers.validators.time_ordered_uuid"},
        }
    }
elif TASKS_BACKEND == "rq":
    if not env_str("REDIS_URL"):
        raise ImproperlyConfigured("TASKS_BACKEND=rq needs REDIS_URL, e.g. redis://127.0.0.1:6379/0")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be database or rq, not {TASKS_BACKEND!r}")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # A JSON API: form and multipart bodies get 415 rather than half-parsed JSON fields.
    "DEFAULT_PARSER_CLASSES": ["triggers.operate.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "triggers.operate.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "evonexus API",
    "DESCRIPTION": "Webhook triggers, executions and the dead-letter queue.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components, so read-only fields and minimum lengths hold.
    "COMPONENT_SPLIT_REQUEST": True,
    # Like the rest of the API: staff only (drf-spectacular serves it to anyone by default).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "evonexus.openapi.document_error_responses",
    ],
}

# Webhook ingestion.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1)
# Evolution Go puts a received file, base64-encoded, in the Message webhook itself,
# with no size cap. whatsapp triggers read such bodies as a stream: the file goes to
# storage as it arrives (triggers/sources/files.py, triggers/receive/media.py), so a
# body costs no memory for its size. Up to WHATSAPP_MEDIA_MAX_BYTES of file is kept;
# past it the event is kept without its file (`media_dropped: "too_large"`).
WHATSAPP_WEBHOOK_MAX_BODY_BYTES = env_int("WHATSAPP_WEBHOOK_MAX_BODY_BYTES", 3 * 1024**3, minimum=1)
WHATSAPP_MEDIA_MAX_BYTES = env_int("WHATSAPP_MEDIA_MAX_BYTES", 100 * 1024 * 1024, minimum=0)
# Without S3 (MEDIA_S3_*), kept files go here, under their SHA-256; scripts get their path.
WHATSAPP_MEDIA_DIR = Path(env_str("WHATSAPP_MEDIA_DIR", str(BASE_DIR / "media"))).resolve()
WEBHOOK_MAX_JSON_DEPTH = env_int("WEBHOOK_MAX_JSON_DEPTH", 64, minimum=2)
WEBHOOK_SIGNATURE_TOLERANCE_SECONDS = env_int("WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1)
# Django must never refuse a body we are prepared to answer 413 for ourselves (the
# webhook reads its body with read(), which this does not bound; it guards .body).
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, WEBHOOK_MAX_BODY_BYTES + 1)

# Script actions.
SCRIPTS_DIR = Path(env_str("SCRIPTS_DIR", str(BASE_DIR / "scripts"))).resolve()
SCRIPT_TIMEOUT_SECONDS = env_float("SCRIPT_TIMEOUT_SECONDS", 660.0, minimum=0.1)
SCRIPT_OUTPUT_MAX_CHARS = env_int("SCRIPT_OUTPUT_MAX_CHARS", 10_000, minimum=100)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "keyvalue")
if LOG_FORMAT not in ("keyvalue", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be keyvalue or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "keyvalue": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object per line; an evt line's fields become top-level keys.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "evonexus": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django_tasks": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# The public address senders reach us at (e.g. a Cloudflare Tunnel hostname);
# webhook URLs are built from it. Empty: the address of the API request.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL")

# The Evolution Go gateway (WhatsApp).
EVOLUTION_GO_URL = env_str("EVOLUTION_GO_URL")
EVOLUTION_GO_INSTANCE_TOKEN = env_str("EVOLUTION_GO_INSTANCE_TOKEN")
EVOLUTION_GO_KEY = env_str("EVOLUTION_GO_KEY")
# Longer than the 48 s a send to a disconnected instance can wait inside the server
# (3 internal attempts of 12-16 s; docs/evolution-go.md): see whatsapp/client.py.
EVOLUTION_GO_TIMEOUT = env_float("EVOLUTION_GO_TIMEOUT", 60.0, minimum=1.0)

# Media sent from local files goes through S3-compatible storage (e.g. Cloudflare R2).
MEDIA_S3_ENDPOINT_URL = env_str("MEDIA_S3_ENDPOINT_URL")
MEDIA_S3_BUCKET = env_str("MEDIA_S3_BUCKET")
MEDIA_S3_ACCESS_KEY_ID = env_str("MEDIA_S3_ACCESS_KEY_ID")
MEDIA_S3_SECRET_ACCESS_KEY = env_str("MEDIA_S3_SECRET_ACCESS_KEY")
MEDIA_S3_REGION = env_str("MEDIA_S3_REGION", "auto")
MEDIA_URL_TTL_SECONDS = env_int("MEDIA_URL_TTL_SECONDS", 3600, minimum=60)

# Replay (the dead-letter queue).
REPLAY_MIN_INTERVAL_SECONDS = env_int("REPLAY_MIN_INTERVAL_SECONDS", 60, minimum=0)
REPLAY_BULK_MAX = env_int("REPLAY_BULK_MAX", 100, minimum=1)
REPLAY_API_RATE = env_str("REPLAY_API_RATE", "30/m")

# Admin sign-in attempts per username (django-ratelimit syntax), so passwords cannot be
# guessed at speed; past it, a 429 until the window ends.
ADMIN_LOGIN_RATE = env_str("ADMIN_LOGIN_RATE", "10/m")
# ...and per client address, higher: behind a tunnel many people may share one address.
ADMIN_LOGIN_ADDRESS_RATE = env_str("ADMIN_LOGIN_ADDRESS_RATE", "60/m")
# The proxies whose X-Forwarded-For is believed (comma-separated addresses; the production
# recipe's nginx is 127.0.0.1): behind them the client's address is the last entry they
# did not write. Empty: the peer's address is the client's.
TRUSTED_PROXIES = frozenset(p.strip() for p in env_str("TRUSTED_PROXIES").split(",") if p.strip())

# The cache holds the API rate-limit counters: per process by default, shared by
# every process and machine when REDIS_URL is set.
REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Automatic redelivery of transient failures (per trigger, off by default):
# seconds before the 1st, 2nd, ... redelivery (the last repeats), +/- the jitter.
AUTO_REDELIVERY_SCHEDULE = env_seconds_list("AUTO_REDELIVERY_SCHEDULE", [60, 300, 1800, 7200])
AUTO_REDELIVERY_JITTER = env_float("AUTO_REDELIVERY_JITTER", 0.2, minimum=0.0)
if AUTO_REDELIVERY_JITTER >= 1:
    raise ImproperlyConfigured("AUTO_REDELIVERY_JITTER must be below 1 (it is a fraction, e.g. 0.2)")

# WhatsApp numbers that send too much too fast risk a ban: above this many sends
# in 24 hours the stats raise the watermark (warning logged once per flip).
WHATSAPP_DAILY_WATERMARK = env_int("WHATSAPP_DAILY_WATERMARK", 50, minimum=1)
# A hard stop before the ban: once this many executions sent WhatsApp in the rolling
# 24 hours, further sends wait (status `held`, reason `daily_cap`) until there is room
# again. 0: off.
WHATSAPP_DAILY_CAP = env_int("WHATSAPP_DAILY_CAP", 0, minimum=0)

# The WhatsApp gateway breaker (triggers/execute/breaker.py): after this many sends in a row
# find the instance not connected, sends wait instead of being tried (0: off, and such
# sends fail as transient, as any other). Probes back off from MIN to MAX seconds;
# waiting executions are released this many seconds apart.
GATEWAY_BREAKER_FAILURES = env_int("GATEWAY_BREAKER_FAILURES", 3, minimum=0)
GATEWAY_PROBE_MIN_SECONDS = env_int("GATEWAY_PROBE_MIN_SECONDS", 15, minimum=1)
GATEWAY_PROBE_MAX_SECONDS = env_int("GATEWAY_PROBE_MAX_SECONDS", 300, minimum=1)
GATEWAY_RELEASE_INTERVAL_SECONDS = env_float("GATEWAY_RELEASE_INTERVAL_SECONDS", 0.5, minimum=0.0)

# A message WhatsApp has not reported delivered this many minutes after we sent it
# shows under "sent, not delivered" (admin filter) and in the stats' `undelivered`.
DELIVERY_ALERT_MINUTES = env_int("DELIVERY_ALERT_MINUTES", 10, minimum=1)

# /metrics answers a bearer of this token (or a staff session); empty: staff only.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Crash safety (manage.py reap_executions): a running execution older than the
# lease lost its worker; a pending one older than the requeue age may have lost
# its task (possible with Redis, where the task is queued after the commit).
EXECUTION_LEASE_SECONDS = env_int("EXECUTION_LEASE_SECONDS", 900, minimum=1)
PENDING_REQUEUE_SECONDS = env_int("PENDING_REQUEUE_SECONDS", 300, minimum=1)

# How long each process may reuse a trigger looked up by its webhook id (0: never).
TRIGGER_CACHE_SECONDS = env_int("TRIGGER_CACHE_SECONDS", 5, minimum=0)

# TLS hardening for deployments behind HTTPS (all off by default: development and the
# tests speak plain HTTP). `manage.py check --deploy` is clean with the README's values.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=False)
if env_bool("BEHIND_TLS_PROXY", default=False):
    # Cloudflare Tunnel, nginx and load balancers say the original scheme in this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
