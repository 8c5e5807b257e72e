"""Settings shared by every environment. Everything variable comes from the environment."""

from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_required, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", False)
# Without DEBUG a real secret is mandatory; the development fallback never reaches production.
SECRET_KEY = (
    env_str("SECRET_KEY", "dev-only-insecure-key-change-me")
    if DEBUG
    else env_required("SECRET_KEY")
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_beat",
    "oms.core",
    "customers",
    "inventory",
    "orders",
    "subscriptions",
    "billing",
    "fulfillment",
    # The renewal cycle (outer ring): its command, admin, task and beat schedule migration.
    "subscriptions.renewal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "oms.core.middleware.history_request_middleware",
]

ROOT_URLCONF = "oms.urls"
WSGI_APPLICATION = "oms.wsgi.application"

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

# DATABASE_URL selects the database of record (PostgreSQL). Without it a newcomer gets an
# embedded SQLite file so the quick start needs nothing installed.
_DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'oms.sqlite3'}"
if not env_str("DATABASE_URL"):
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _DEFAULT_SQLITE) or _DEFAULT_SQLITE,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a cheaper check of persistent connections (oms/core/pgbackend).
    DATABASES["default"]["ENGINE"] = "oms.core.pgbackend"
    # Prepared statements for the few hand-written statements every request runs
    # (``oms.core.db.prepared_cursor``): psycopg prepares a statement only when asked, the
    # huge threshold keeps it from preparing anything on its own. Django turns them off by
    # default for the sake of connection poolers: behind a transaction-pooling PgBouncer set
    # DB_PREPARED_STATEMENTS=0.
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The business time zone: renewal days and report days are dates in this zone.
OMS_TIME_ZONE = env_str("OMS_TIME_ZONE", "UTC")

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
AUTHENTICATION_BACKENDS = ["customers.portal.auth.CaseInsensitiveUsernameBackend"]

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Seed OMS <orders@localhost>")
OMS_INVENTORY_CONTACT_EMAIL = env_str("OMS_INVENTORY_CONTACT_EMAIL", "inventory@localhost")
OMS_PUBLIC_URL = env_str("OMS_PUBLIC_URL", "http://localhost:8000")

# Cache: Redis where configured (shared throttling across workers), else per process.
_REDIS_CACHE = env_str("CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _REDIS_CACHE}
        if _REDIS_CACHE
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery: a broker where CELERY_BROKER_URL is set; without one tasks run eagerly in-process
# so the quick start works with nothing but Python.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# acks_late is opted into per task (only those that are idempotent), never globally.
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Stripe: only through the official SDK. STRIPE_API_BASE points it at a local stand-in in tests.
STRIPE_API_KEY = env_str("STRIPE_API_KEY", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "pk_test_oms")
# Billing dunning: retry days after the first failed charge, then the end (cancel | pause).
OMS_DUNNING_RETRY_DAYS = [int(d) for d in env_list("OMS_DUNNING_RETRY_DAYS", ["1", "3", "5", "7"])]
OMS_DUNNING_END_ACTION = env_str("OMS_DUNNING_END_ACTION", "cancel")

# The nightly renewal cycle: the beat schedule's time (UTC; the cycle renews the business
# date at that instant), subscriptions per claim batch, reminder emails N days ahead.
OMS_RENEWAL_HOUR_UTC = env_int("OMS_RENEWAL_HOUR_UTC", 6)
OMS_RENEWAL_MINUTE_UTC = env_int("OMS_RENEWAL_MINUTE_UTC", 0)
OMS_RENEWAL_BATCH_SIZE = env_int("OMS_RENEWAL_BATCH_SIZE", 200)
# Threads per renewal worker: charges in flight at once; above 1, a charger thread charges
# one batch while the next is claimed (bench/renewals.py runs 4).
OMS_RENEWAL_THREADS = env_int("OMS_RENEWAL_THREADS", 1)
OMS_RENEWAL_REMINDER_DAYS = env_int("OMS_RENEWAL_REMINDER_DAYS", 3)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["oms.core.api.authentication.ChannelKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["oms.core.api.permissions.IsChannel"],
    "DEFAULT_THROTTLE_CLASSES": ["oms.core.api.throttling.ChannelRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"channel": env_str("OMS_CHANNEL_THROTTLE_RATE", "6000/min")},
    "DEFAULT_PAGINATION_CLASS": "oms.core.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "oms.core.api.schema.ChannelAutoSchema",
    "EXCEPTION_HANDLER": "oms.core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Seed OMS channel API",
    "DESCRIPTION": (
        "Order management for subscription businesses. Every request carries "
        "`Authorization: Bearer <channel API key>`; every POST accepts an `Idempotency-Key`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "OrderEventKindEnum": "orders.models.OrderEventKind",
        "AddressKindEnum": "customers.models.AddressKind",
        "SubscriptionStatusEnum": "subscriptions.models.SubscriptionStatus",
        "ShipmentStatusEnum": "fulfillment.statuses.ShipmentStatus",
        "ReturnStatusEnum": "fulfillment.statuses.ReturnStatus",
        "PaymentStateEnum": "billing.models.AttemptState",
        "RefundStateEnum": "billing.models.RefundState",
        "ReturnReasonEnum": "fulfillment.statuses.ReturnReason",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
