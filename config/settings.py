"""Settings of the WhatsApp gateway.

Every value comes from an environment variable declared in :mod:`config.environment` (documented in
the README). Two topologies share this file:

* **embedded** (no ``REDIS_URL``): SQLite in ``DATA_DIR`` with WAL and a busy timeout, Celery on the
  in-process ``memory://`` broker (``manage.py serve`` runs the worker and beat as threads), and the
  in-memory channel layer. A fresh machine needs nothing but Python.
* **distributed** (``DATABASE_URL`` + ``REDIS_URL``): PostgreSQL through psycopg 3, Celery on Redis
  and the channels-redis layer; web, worker, beat and fleet run as separate processes (Procfile).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.environment import load_dotenv, read

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

DATA_DIR = Path(read("DATA_DIR"))
if not DATA_DIR.is_absolute():
    DATA_DIR = BASE_DIR / DATA_DIR
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _seconds(name: str) -> list[float]:
    """A list variable of delays in seconds; anything but numbers stops start-up naming ``name``."""
    try:
        return [float(delay) for delay in read(name)]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a comma-separated list of seconds.") from None


def _secret_key() -> str:
    """The configured key, or one generated once and kept beside the embedded database."""
    configured = read("SECRET_KEY")
    if configured:
        return configured
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = read("DEBUG")
ALLOWED_HOSTS = read("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = read("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # No "daphne" app here: it would load Twisted into every process (runners included); `serve`
    # and the Procfile run daphne directly.
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "ninja",
    "whatsapp",
    "whatsapp.engine.simulator",
    "approvals",
    "media",
    "audit",
]
GATEWAY_ROLE = os.environ.get("GATEWAY_ROLE", "")
if GATEWAY_ROLE == "runner":
    # A device runner (one per linked account, 100 on a machine) serves no pages and schedules no
    # jobs: leaving out the admin, the REST API's app and beat's schedule models keeps their imports
    # out of its memory (measured in bench/fleet.py).
    INSTALLED_APPS = [app for app in INSTALLED_APPS
                      if app not in ("django.contrib.admin", "ninja", "django_celery_beat")]

MIDDLEWARE = [
    "whatsapp.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whatsapp.middleware.ErrorEnvelopeMiddleware",
    "whatsapp.api.middleware.ApiMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------

SQLITE_OPTIONS = {
    # WAL lets readers proceed while one writer commits; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue on the busy timeout instead of failing with "database is locked" mid-way.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

_database_url = read("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'gateway.sqlite3'}"
_database = environ.Env.db_url_config(_database_url)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["OPTIONS"] = {**SQLITE_OPTIONS, **_database.get("OPTIONS", {})}
elif GATEWAY_ROLE == "web" and read("DATABASE_POOL_MAX"):
    # Under ASGI every request runs in a fresh thread, and Django's connections are per thread: without
    # a pool each request would open (and close) its own PostgreSQL connection. Only the web process
    # pools; runners and workers keep one connection each (the fleet's connection budget).
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {**_database.get("OPTIONS", {}),
                            "pool": {"min_size": 2, "max_size": read("DATABASE_POOL_MAX"), "timeout": 10}}
else:
    _database["CONN_MAX_AGE"] = read("DATABASE_CONN_MAX_AGE")
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = read("TZ")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(read("STATIC_ROOT") or DATA_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve admin assets straight from the app directories, so `serve` works without collectstatic.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(read("MEDIA_ROOT") or DATA_DIR)

DATA_UPLOAD_MAX_MEMORY_SIZE = read("REQUEST_MAX_BYTES")

# --- topology: broker, results, channel layer -----------------------------------------------

REDIS_URL = read("REDIS_URL")
GATEWAY_MODE = "distributed" if REDIS_URL else "embedded"

CELERY_BROKER_URL = read("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = read("CELERY_RESULT_BACKEND") or REDIS_URL or "cache+memory://"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
if CELERY_BROKER_URL.startswith("memory://"):
    # The in-process transport polls its queues; the default 1 s would delay every task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.05}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds counters every web process must share (the API's request limiter): Redis when
# distributed, the process's memory when embedded (one web process).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "wag"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- gateway behaviour (read by the services) -----------------------------------------------

WHATSAPP_ENGINE = read("WHATSAPP_ENGINE")
SIMULATOR_TIME_SCALE = read("SIMULATOR_TIME_SCALE")
AUTO_CONNECT_ON_STARTUP = read("AUTO_CONNECT_ON_STARTUP")
SEND_READ_RECEIPTS = read("SEND_READ_RECEIPTS")
AUTO_READ_RECEIPTS = read("AUTO_READ_RECEIPTS")
PRESENCE_MODE = read("PRESENCE_MODE")
WELCOME_GROUP_NAME = read("WELCOME_GROUP_NAME")
AUTH_WAIT_FOR_LINK = read("AUTH_WAIT_FOR_LINK")
AUTH_LINK_TIMEOUT_SEC = read("AUTH_LINK_TIMEOUT_SEC")
AUTH_POLL_INTERVAL_SEC = read("AUTH_POLL_INTERVAL_SEC")
HEALTH_CHECK_INTERVAL_SEC = read("HEALTH_CHECK_INTERVAL_SEC")
FLEET_LEASE_TTL_SEC = read("FLEET_LEASE_TTL_SEC")
RECONNECT_DELAYS_SEC = _seconds("RECONNECT_DELAYS_SEC")
AUTO_DOWNLOAD_MEDIA = read("AUTO_DOWNLOAD_MEDIA")
ALLOWED_CONTACTS = read("ALLOWED_CONTACTS")
DISABLED_TOOLS = read("DISABLED_TOOLS")
RATE_LIMIT_PER_MIN = read("RATE_LIMIT_PER_MIN")
DOWNLOAD_RATE_LIMIT_PER_MIN = read("DOWNLOAD_RATE_LIMIT_PER_MIN")
MEDIA_QUOTA_MB = read("MEDIA_QUOTA_MB")
MEDIA_MAX_BYTES = read("MEDIA_MAX_BYTES")
# Empty: MEDIA_ROOT/media and /tmp (media.guard.upload_dirs, which follows MEDIA_ROOT).
UPLOAD_DIRS = read("UPLOAD_DIRS")
if any(not os.path.isabs(directory) for directory in UPLOAD_DIRS):
    raise ImproperlyConfigured("UPLOAD_DIRS must list absolute directory paths.")
MESSAGE_RETENTION_DAYS = read("MESSAGE_RETENTION_DAYS")
AUDIT_RETENTION_DAYS = read("AUDIT_RETENTION_DAYS")
DATA_ENCRYPTION_KEY = read("DATA_ENCRYPTION_KEY")
JWT_SECRET = read("JWT_SECRET") or f"jwt:{SECRET_KEY}"
SEND_WAIT_SECONDS = read("SEND_WAIT_SECONDS")
API_RATE_LIMIT_PER_MIN = read("API_RATE_LIMIT_PER_MIN")
WEBHOOK_BASE_URL = read("WEBHOOK_BASE_URL")
WEBHOOK_TIMEOUT_S = read("WEBHOOK_TIMEOUT_S")
WEBHOOK_RETRY_DELAYS_S = _seconds("WEBHOOK_RETRY_DELAYS_S")
if not WEBHOOK_RETRY_DELAYS_S or min(WEBHOOK_RETRY_DELAYS_S) <= 0:
    raise ImproperlyConfigured("WEBHOOK_RETRY_DELAYS_S needs at least one positive delay.")
WEBHOOK_RETRY_WINDOW_S = read("WEBHOOK_RETRY_WINDOW_S")
WEBHOOK_ENDPOINT_CONCURRENCY = read("WEBHOOK_ENDPOINT_CONCURRENCY")
WEBHOOK_SECRET_OVERLAP_S = read("WEBHOOK_SECRET_OVERLAP_S")
WEBHOOK_DELIVERY_RETENTION_DAYS = read("WEBHOOK_DELIVERY_RETENTION_DAYS")
ALLOW_PRIVATE_URLS = read("ALLOW_PRIVATE_URLS")

# --- logging: always stderr, so stdio protocols (the MCP server) keep stdout clean ----------

LOG_LEVEL = read("LOG_LEVEL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        # One line per request is noise at INFO; errors still show.
        "django.channels.server": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}
