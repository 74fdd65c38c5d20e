"""Settings for the order back-office.

Everything that differs between a laptop, CI and production comes from the environment:
DATABASE_URL (default: a SQLite file), REDIS_URL (set: django-q2 uses Redis as its broker;
unset: the ORM broker), SECRET_KEY, FIELD_ENCRYPTION_KEYS, DEBUG, ALLOWED_HOSTS.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
# The fallback is for a laptop and the test suite only; deployments set SECRET_KEY, and production's settings
# (backoffice.settings_production) refuse to start with this one.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
# The keys the stored secrets (shop REST keys, webhook secrets, a provider's token, a supplier's API key) are encrypted
# with (backoffice/encrypted.py): Fernet keys, comma-separated; the first encrypts, all decrypt (rotation: a new key
# first, then manage.py rotate_secrets, then drop the old one). This fallback is for a laptop and the test suite only
# (its bytes say so); production's settings refuse to start with it.
DEVELOPMENT_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5ldmVyLWluLXByb2Q="  # "dev-only-field-key-never-in-prod"
FIELD_ENCRYPTION_KEYS = [key.strip() for key in os.environ.get(
    "FIELD_ENCRYPTION_KEYS", DEVELOPMENT_FIELD_ENCRYPTION_KEY).split(",") if key.strip()]

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    # Before django_q: its `manage.py qcluster` is fulfillment's (fulfillment/task_cluster.py).
    "fulfillment",
    "django_q",
    "projects",
    "accounting",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Webhooks (a shop's, a provider's) skip everything below: no session, CSRF, locale or login for a machine.
    "backoffice.middleware.WebhookMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "backoffice.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backoffice.middleware.AccountNotFoundMiddleware",
    # Last: turns a login axes refused into backoffice.login_throttle.locked_out's page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"

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
                "backoffice.context_processors.demo_systems",
            ],
        },
    },
]

WSGI_APPLICATION = "backoffice.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; the timeout waits for a writer
    # instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logins are throttled (django-axes, backoffice/login_throttle.py): the admin's and My Account's. After
# AXES_FAILURE_LIMIT failures for one username from one address, that pair waits AXES_COOLOFF_TIME; another
# address, or the same address with another username, is not held up. A successful login forgets the failures.
AUTHENTICATION_BACKENDS = [
    "backoffice.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "backoffice.login_throttle.username"
AXES_LOCKOUT_CALLABLE = "backoffice.login_throttle.locked_out"
AXES_ENABLE_ADMIN = False  # unlock with manage.py axes_reset_username / axes_reset_ip
AXES_VERBOSE = False  # our own warning (backoffice.security) says what happened, once
# Behind the proxy (settings_production), the client's address is the last one it adds to X-Forwarded-For.
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT
                                     else ("REMOTE_ADDR",))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("es", _("Spanish")),
    ("fr", _("French")),
    ("it", _("Italian")),
    ("nl", _("Dutch")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

# The back-office's own address as the internet reaches it (https://backoffice.example.com): providers that take file
# URLs only (Printful) fetch a line's render from a signed link under it (fulfillment.file_links); without it such a
# line is not sent, and the order says why. The links stay valid for PRODUCTION_FILE_LINK_DAYS: a provider fetches
# the file when it makes the order, which may be days after the submission (an order on hold, a reprint).
BACKOFFICE_PUBLIC_URL = os.environ.get("BACKOFFICE_PUBLIC_URL", "").strip().rstrip("/")
PRODUCTION_FILE_LINK_DAYS = int(os.environ.get("PRODUCTION_FILE_LINK_DAYS", "30"))

REDIS_URL = os.environ.get("REDIS_URL", "")
# A cluster process killed without being asked restarts all of its cluster's processes on new queues
# (fulfillment/task_cluster.py); the busy workers get this long to finish their task first.
TASK_CLUSTER_RESTART_GRACE_SECONDS = float(os.environ.get("TASK_CLUSTER_RESTART_GRACE_SECONDS", "30"))

Q_CLUSTER = {
    "name": "backoffice",
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 600,
    # retry must exceed timeout. The ORM broker hands a task not acknowledged within `retry` s to a worker again
    # (Redis has no receipts: a task lost with its worker stays lost, and watchdog schedules queue its work again):
    # an import, allowed IMPORT_TIMEOUT_SECONDS, is then delivered twice, and the second copy refuses to run an
    # import that is already running.
    "retry": 900,
    # A task runs once: every task here is safe to run twice, but one that failed is not run again blindly (its
    # schedule or watchdog queues the work again); ack_failures acknowledges a failed task to the ORM broker, which
    # would otherwise hand it out again after `retry` s — one bad task would come back every 15 minutes for ever.
    "max_attempts": 1,
    "ack_failures": True,
    # Keep every success; a daily task deletes those older than TASK_RESULTS_KEEP_DAYS (failures after
    # TASK_FAILURES_KEEP_DAYS). django-q2's own pruning (a positive save_limit) locks all kept successes after every
    # task: the monitors of two clusters wait on each other, results pile up, and a worker reaching `recycle` cannot
    # exit until they are written — all workers recycle together and stall (bench/README.md). With save_limit 0 the
    # monitor writes one row per task and takes no lock, so a worker's recycle (after 500 tasks: the memory of
    # rendered pages and PDFs given back) costs a restart and nothing more.
    "save_limit": 0,
    "recycle": 500,
    "catch_up": False,
    "label": "Tasks",
    # django-q2 logs every task queued and run at INFO: on a busy web process that is a log line per webhook.
    # Q_LOG_LEVEL=INFO brings them back; task failures are logged at ERROR whatever this says.
    "log_level": os.environ.get("Q_LOG_LEVEL", "WARNING").upper(),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # One cache for every web and worker process: the list's status counts are computed once, by a task.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "backoffice"}}
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.5

# Business tuning (documented in the README).
WOO_TIMEOUT_SECONDS = float(os.environ.get("WOO_TIMEOUT_SECONDS", "30"))
WOO_MAX_RETRIES = int(os.environ.get("WOO_MAX_RETRIES", "4"))
WOO_RETRY_BASE_SECONDS = float(os.environ.get("WOO_RETRY_BASE_SECONDS", "1"))
# Pages of orders read several at a time (imports, reconcile): a page answered 429 or 503 (throttling, maintenance
# mode) slows the reading down and is asked again up to this many times (each Retry-After honoured, up to 60 s).
WOO_MAX_THROTTLE_RETRIES = int(os.environ.get("WOO_MAX_THROTTLE_RETRIES", "10"))
# How far back a reconcile looks before its watermark, to cover clock skew between the shop and us.
# A push to WooCommerce that failed is tried again after 30 s, doubling up to 30 min (bench/faults compresses this).
PUSH_BACKOFF_FIRST_SECONDS = float(os.environ.get("PUSH_BACKOFF_FIRST_SECONDS", "30"))
PUSH_BACKOFF_MAX_SECONDS = float(os.environ.get("PUSH_BACKOFF_MAX_SECONDS", str(30 * 60)))
SYNC_OVERLAP_SECONDS = int(os.environ.get("SYNC_OVERLAP_SECONDS", "300"))
SYNC_INTERVAL_MINUTES = int(os.environ.get("SYNC_INTERVAL_MINUTES", "5"))
TASK_RESULTS_KEEP_DAYS = int(os.environ.get("TASK_RESULTS_KEEP_DAYS", "14"))
TASK_FAILURES_KEEP_DAYS = int(os.environ.get("TASK_FAILURES_KEEP_DAYS", "90"))
# A render version replaced by a newer finished one this many days ago is deleted with its files (the production
# versions of an ordered project and each project's newest version are kept whatever their age).
RENDERS_KEEP_DAYS = int(os.environ.get("RENDERS_KEEP_DAYS", "90"))
# A production render of this many pages or more is rendered page by page in tasks of their own, side by side in the
# cluster's workers, and assembled when the last page is in (a 24-page A4 book at 300 DPI: 8.5 CPU s in one task).
RENDER_PAGE_TASKS_FROM = int(os.environ.get("RENDER_PAGE_TASKS_FROM", "4"))
# Webhook bodies up to this size are stored (an order with thousands of lines or large personalisation meta passes
# DATA_UPLOAD_MAX_MEMORY_SIZE, below, which stays the limit of every other view); larger ones get 413.
WEBHOOK_MAX_BYTES = int(os.environ.get("WEBHOOK_MAX_BYTES", str(25 * 1024 * 1024)))
# A provider's event (Printful: a shipment, a failure) is a few kB.
PROVIDER_WEBHOOK_MAX_BYTES = int(os.environ.get("PROVIDER_WEBHOOK_MAX_BYTES", str(1024 * 1024)))
# The editor API's JSON bodies (a project's pages: a 100-page book is some 200 kB) and its image uploads (the image's
# own limit, PROJECT_ASSET_MAX_BYTES, and room for the multipart envelope). backoffice/request_limits.py refuses a
# larger body with 413 before reading it whole.
EDITOR_API_MAX_BYTES = int(os.environ.get("EDITOR_API_MAX_BYTES", str(2 * 1024 * 1024)))
# Every other view (the admin's forms, My Account): Django refuses a larger body of form fields with 400. Files are
# not counted, and are spooled to disk past FILE_UPLOAD_MAX_MEMORY_SIZE.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(2 * 1024 * 1024)))
# A delivery still not applied this long after it was received lost its task (broker down, worker killed, Redis
# flushed): a schedule queues it again.
WEBHOOK_REQUEUE_MINUTES = float(os.environ.get("WEBHOOK_REQUEUE_MINUTES", "10"))
# Work a killed worker left behind (Redis keeps no receipt of a task taken): how long before each kind is deemed
# lost and taken up again by its sweep. Each is longer than the work can take alive; the defaults are the reasons
# given where they are used. bench/faults/workers_die.py shortens them (compressed time).
SUBMISSION_CLAIM_SECONDS = float(os.environ.get("SUBMISSION_CLAIM_SECONDS", "300"))  # a provider call: 30 s at most
SUBMISSION_LOST_TASK_SECONDS = float(os.environ.get("SUBMISSION_LOST_TASK_SECONDS", "600"))  # a bulk submit's queue
SUPPLIER_SYNC_LEASE_SECONDS = float(os.environ.get("SUPPLIER_SYNC_LEASE_SECONDS", "300"))
INVOICE_EXPORT_CLAIM_SECONDS = float(os.environ.get("INVOICE_EXPORT_CLAIM_SECONDS", "300"))  # Moneybird: 35 s
PUSH_CLAIM_SECONDS = float(os.environ.get("PUSH_CLAIM_SECONDS", "600"))
# An order still without the invoice its status calls for this long after its last change lost its issuing task.
INVOICE_LOST_TASK_SECONDS = float(os.environ.get("INVOICE_LOST_TASK_SECONDS", "600"))
# An import runs in a worker with its own time limit instead of the cluster's 600 s; one whose progress has not
# moved for IMPORT_STALL_MINUTES lost its worker and is marked failed (a page takes at most ~3 minutes with every
# retry of a slow shop).
IMPORT_TIMEOUT_SECONDS = int(os.environ.get("IMPORT_TIMEOUT_SECONDS", str(12 * 3600)))
IMPORT_STALL_MINUTES = int(os.environ.get("IMPORT_STALL_MINUTES", "30"))
# The order list's status tabs, when the cache has no counts: estimated from PostgreSQL's statistics (the exact
# counts queued) from this many orders on; counted in the request below it.
STATUS_COUNTS_ESTIMATE_FROM = int(os.environ.get("STATUS_COUNTS_ESTIMATE_FROM", "200000"))

LOGIN_URL = "admin:login"

# Mail to customers (password reset, email confirmation): printed on the console unless EMAIL_BACKEND is set,
# e.g. EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend EMAIL_HOST=smtp.example.com EMAIL_PORT=587
# EMAIL_HOST_USER=... EMAIL_HOST_PASSWORD=... EMAIL_USE_TLS=1 (Django 6.1's MAILERS; the old EMAIL_* settings
# are deprecated). Only the options given are passed: the console backend refuses SMTP ones.
_mail_options = {option: os.environ[variable] for option, variable in
                 (("host", "EMAIL_HOST"), ("username", "EMAIL_HOST_USER"), ("password", "EMAIL_HOST_PASSWORD"))
                 if os.environ.get(variable)}
if os.environ.get("EMAIL_PORT"):
    _mail_options["port"] = int(os.environ["EMAIL_PORT"])
if os.environ.get("EMAIL_USE_TLS"):
    _mail_options["use_tls"] = env_bool("EMAIL_USE_TLS")
MAILERS = {"default": {"BACKEND": os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"),
                       "OPTIONS": _mail_options}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")

# Client images: 25 MB covers any phone photo; 60 Mpx is above the largest phone sensors and keeps a decoded
# image under ~240 MB (RGBA), so a small file cannot expand into gigabytes of memory (a decompression bomb).
PROJECT_ASSET_MAX_BYTES = int(os.environ.get("PROJECT_ASSET_MAX_BYTES", str(25 * 1024 * 1024)))
PROJECT_ASSET_MAX_PIXELS = int(os.environ.get("PROJECT_ASSET_MAX_PIXELS", "60000000"))
EDITOR_UPLOAD_MAX_BYTES = PROJECT_ASSET_MAX_BYTES + 1024 * 1024

# Where the accounting file connector writes (one folder per store) unless a store's export rule names another.
ACCOUNTING_EXPORT_DIR = Path(os.environ.get("ACCOUNTING_EXPORT_DIR", BASE_DIR / "exports"))
# The EU's VAT number check (reverse-charged invoices); the demo and the tests point it at a local stand-in.
# The demo (scripts/run.sh): where its stand-ins keep their files (print room, shop state, logs), and the
# stand-ins themselves, "name=url" separated by ";" (shown to staff as a banner in the admin).
DEMO_DIR = Path(os.environ.get("DEMO_DIR", BASE_DIR / "var" / "demo"))
DEMO_SYSTEMS = [tuple(part.strip() for part in item.split("=", 1)) for item in
                os.environ.get("DEMO_SYSTEMS", "").split(";") if "=" in item]
VIES_URL = os.environ.get("VIES_URL", "https://ec.europa.eu/taxation_customs/vies/rest-api")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "fulfillment": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "accounting": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "backoffice": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "projects": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "axes": {"handlers": ["console"], "level": "WARNING"},
        # Every 4xx and 5xx answer, one record each (Django's own, shown only with DEBUG otherwise): a refusal is
        # logged even where the view has no reason of its own to give (an unknown URL, a CSRF failure).
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
