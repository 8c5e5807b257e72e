"""Production: DEBUG off, secrets required, HTTPS everywhere. `manage.py check --deploy` is clean
with SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL set."""

import os

os.environ["DJANGO_DEBUG"] = "0"

from .base import *  # noqa: E402,F403
from .env import env_bool, env_int  # noqa: E402

DEBUG = False
# Reused connections (a new PostgreSQL connection per request costs more than most of our
# requests), checked before reuse so a restarted database never fails a request. Either kept
# per thread (DB_CONN_MAX_AGE seconds), or, with DB_POOL_MAX_SIZE, lent per request from a
# pool of at most that many per process: the web server's setting (oms/gunicorn.conf.py), where
# gevent serves many requests per process and a connection per request would be too many.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
_pool_size = env_int("DB_POOL_MAX_SIZE", 0)
if _pool_size and DATABASES["default"]["ENGINE"] == "oms.core.pgbackend":  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405 - the pool keeps them
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {  # noqa: F405
        "min_size": min(2, _pool_size),
        "max_size": _pool_size,
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)  # noqa: F405
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
