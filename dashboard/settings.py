"""Django settings, read from the environment with defaults that suit `make run`."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from dashboard.env import SettingError, env_bool, env_int, env_list, env_str, secret_key
from dashboard.redis_url import resolve_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DASHBOARD_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = secret_key(VAR_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "ui",
    "live",
    "audit",
    "accounts",
    "jobs",
    "vms",
    "portal",
]
# The development fleet, demo guest and demo data (`manage.py sandbox`, `bootstrap_demo`): on for
# `make run` and the tests; a deployment turns it off and production code never imports it.
SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", True)
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The pending-approvals count on the staff menu's "Approvals".
                "portal.context_processors.pending_approvals",
            ],
        },
    },
]


def database_config(url: str, var_dir: Path) -> dict:
    config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))
    if config["ENGINE"].endswith("sqlite3"):
        # Web, worker and watcher share one SQLite file: wait for the lock instead of failing,
        # and let readers run beside the writer (WAL).
        config.setdefault("OPTIONS", {}).update(
            {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
        # A file, not memory, so that a real Celery worker can see what a test wrote; one per
        # test run (pid), so that two runs on one checkout never share it.
        config["TEST"] = {"NAME": str(var_dir / f"test-db-{os.getpid()}.sqlite3")}
    return config


DATABASES = {"default": database_config(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("vi", _("Vietnamese"))]
# locale-admin/: Vietnamese for Django admin strings that Django leaves in English (never written by makemessages).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale-admin"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
# Serve from the app finders too, so pages work before collectstatic (tests, first run).
WHITENOISE_USE_FINDERS = True

# Redis: broker, channel layer, leases, console scrollback.
REDIS_URL = resolve_redis_url(VAR_DIR)


def _celery_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis as redis+socket://PATH."""
    if redis_url.startswith("unix://"):
        path, _sep, _query = redis_url[len("unix://") :].partition("?")
        return f"redis+socket://{path}"
    return redis_url


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # No read timeout: redis-py 8 defaults to 5 s, the same time channels_redis waits for a
        # message, so every idle websocket would die after 5 s.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": env_str("CHANNELS_PREFIX", "kvmdash"),
            # A group member is dropped this long after it joined; open sockets re-join every half
            # of it (live/sockets.py), so an always-open page never goes deaf.
            "group_expiry": env_int("CHANNELS_GROUP_EXPIRY", 86400),
        },
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", _celery_url(REDIS_URL))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "jobs")
# Longest job (a full image copy) must finish before Redis hands the message to another worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # How often a running worker looks for messages whose worker died (after the timeout above).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
}
# Scale-out: send each VM job to the queue of its host ("host.<name>"), so a worker can serve
# only some hosts (celery -A dashboard worker -Q host.kvm-01,host.kvm-02). Off: one "jobs" queue.
JOBS_PER_HOST_QUEUES = env_bool("JOBS_PER_HOST_QUEUES", False)
# Snapshots one VM may keep when its template sets no limit of its own.
VM_SNAPSHOT_LIMIT = env_int("VM_SNAPSHOT_LIMIT", 5)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Run by the worker started with -B (make run); one beat per deployment.
CELERY_BEAT_SCHEDULE = {
    "reap-orphans": {"task": "vms.reap_orphans", "schedule": env_int("REAPER_INTERVAL", 300)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # `Authorization: Token <key>`: hashed keys with expiry and revocation, throttled (accounts/).
        "accounts.auth.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's, plus a 409 instead of a 500 for deleting what other rows still use: dashboard/api.py.
    "EXCEPTION_HANDLER": "dashboard.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KVM fleet dashboard API",
    "VERSION": "1",
    # Served from our own static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Deep links put a link inside each operation's expand button (a control in a control, which screen
    # readers cannot reach): templates/api_docs.html.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "REDOC_DIST": "SIDECAR",
    # Declares the error answers (400/403/404/415) every operation may give: dashboard/api.py.
    # accounts.schema: the 429 of throttled logins and refused submissions.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dashboard.api.declare_error_answers",
        "dashboard.api_docs.add_summaries",
        "accounts.schema.declare_throttling",
    ],
}

# Behind a TLS-terminating proxy (docs/deployment.md): cookies only over HTTPS, the proxy's header says
# the request was HTTPS ("X-Forwarded-Proto,https"; empty: trust no header), HSTS for that many seconds.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", [])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise SettingError("SECURE_PROXY_SSL_HEADER must be 'Header-Name,value', e.g. 'X-Forwarded-Proto,https'.")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header[0].upper().replace("-", "_"), _proxy_ssl_header[1]) if _proxy_ssl_header else None
)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)

# Failed logins (login page, admin, API tokens) per account and per address in a window of seconds;
# beyond, refused with how long to wait (accounts/throttle.py).
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900)

# The portal's defaults (portal/conf.py reads them from here): what a user may hold without a quota
# row of their own, and who approves requests for templates without a policy.
PORTAL_DEFAULT_QUOTA = {
    "max_vms": env_int("PORTAL_DEFAULT_QUOTA_VMS", 5),
    "max_vcpus": env_int("PORTAL_DEFAULT_QUOTA_VCPUS", 8),
    "max_memory_mib": env_int("PORTAL_DEFAULT_QUOTA_MEMORY_MIB", 8192),
    "max_disk_gib": env_int("PORTAL_DEFAULT_QUOTA_DISK_GIB", 100),
}
PORTAL_DEFAULT_APPROVAL = env_str("PORTAL_DEFAULT_APPROVAL", "manual")
# Refused submissions (over quota) a user may make in a minute; beyond, 429 and nothing is recorded.
PORTAL_REFUSED_SUBMISSIONS_PER_MINUTE = env_int("PORTAL_REFUSED_SUBMISSIONS_PER_MINUTE", 10)
# E-mail only when someone configured it (SMTP), never the console backend by surprise.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
PORTAL_EMAIL_NOTIFICATIONS = env_bool("PORTAL_EMAIL_NOTIFICATIONS", bool(EMAIL_HOST))

# Running jobs say they are alive this often; the reaper fails one silent for JOBS_LOST_AFTER seconds
# (unset: the broker's visibility timeout plus a margin, so a redelivery gets its chance first).
JOBS_HEARTBEAT_INTERVAL = env_int("JOBS_HEARTBEAT_INTERVAL", 5)
if os.environ.get("JOBS_LOST_AFTER"):
    JOBS_LOST_AFTER = env_int("JOBS_LOST_AFTER", 0)
# libvirt's test driver (test:///default) as a host: for tests and benchmarks only.
LIBVIRT_ALLOW_TEST_DRIVER = env_bool("LIBVIRT_ALLOW_TEST_DRIVER", False)
# How we reach qemu+ssh hosts (vms/hypervisor/ssh.py): a key pair made once in SSH_DIR, or the private
# key a deployment gives (SSH_KEY_FILE, e.g. a mounted secret); the known_hosts file we manage is always
# SSH_DIR/known_hosts.
SSH_DIR = Path(env_str("SSH_DIR", str(VAR_DIR / "ssh")))
SSH_KEY_FILE = env_str("SSH_KEY_FILE", "")

# Where a fleet keeps its hosts' state and its lab: one directory per fleet (make test runs its PostgreSQL
# round on a second fleet, in var/sandbox-pg).
SANDBOX_DIR = Path(env_str("SANDBOX_DIR", str(VAR_DIR / "sandbox")))
# Sandbox host N is its own network namespace at 10.213.0.(10+N) (sandbox/network.py); a second
# checkout on the same machine can run a fleet of its own from another number (e.g. 21).
SANDBOX_FIRST_INDEX = env_int("SANDBOX_FIRST_INDEX", 1)
DEMO_GUEST_DIR = VAR_DIR / "demo-guest"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
