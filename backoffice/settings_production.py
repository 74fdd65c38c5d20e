"""Production settings: the base settings, HTTPS only, and a refusal to start with what is only fit for a laptop.

DJANGO_SETTINGS_MODULE=backoffice.settings_production for gunicorn, qcluster and manage.py in a deployment;
`manage.py check --deploy` is then clean. It refuses to start with DEBUG on, or without a secret key of its own
(unset, the development key, or one too short or too uniform for Django's check): the key signs sessions, password
reset links and the customers' download links. Nor without FIELD_ENCRYPTION_KEYS of its own (unset, or holding the
development key), each a valid Fernet key: they encrypt the shops' REST keys and webhook secrets in the database.
"""

import os

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from backoffice.settings import *  # noqa: F403 - the base settings, refined below
from backoffice.settings import DEVELOPMENT_FIELD_ENCRYPTION_KEY, DEVELOPMENT_SECRET_KEY, env_bool

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DEBUG is on: production refuses to start with it (unset DEBUG, or DEBUG=0).")
if "SECRET_KEY" not in os.environ or SECRET_KEY == DEVELOPMENT_SECRET_KEY:  # noqa: F405
    raise ImproperlyConfigured("SECRET_KEY is not set (the development key would be used): production refuses to "
                               "start without a key of its own, e.g. SECRET_KEY=$(openssl rand -hex 32).")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):  # noqa: F405
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters, e.g. "
                               "SECRET_KEY=$(openssl rand -hex 32).")
_MAKE_FIELD_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
if "FIELD_ENCRYPTION_KEYS" not in os.environ or not FIELD_ENCRYPTION_KEYS:  # noqa: F405
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set (the development key would be used): production "
                               "refuses to start without keys of its own for the stored secrets, e.g. "
                               f"FIELD_ENCRYPTION_KEYS=$({_MAKE_FIELD_KEY}).")
if DEVELOPMENT_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:  # noqa: F405
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds the development key: production refuses to start with it "
                               "(its bytes are in the source); give keys of your own only, e.g. "
                               f"FIELD_ENCRYPTION_KEYS=$({_MAKE_FIELD_KEY}).")
for _position, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):  # noqa: F405
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: key {_position} is not a Fernet key (32 url-safe "
                                   f"base64-encoded bytes): make one with {_MAKE_FIELD_KEY}.") from None

# HTTPS only. Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own), the request is
# known to be secure from it; SECURE_PROXY_SSL_HEADER=0 when the proxy does not set it.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
if env_bool("SECURE_PROXY_SSL_HEADER", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading puts the domain in the browsers' built-in list, which is hard to undo: the owner of the domain decides
# (SECURE_HSTS_PRELOAD=1); without it Django's check says so once, and that one warning is silenced here.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Mail to customers goes out: SMTP (a local MTA on port 25 unless EMAIL_HOST and the others say otherwise, see
# settings.py) unless EMAIL_BACKEND names another; the console backend is for development.
MAILERS["default"]["BACKEND"] = os.environ.get(  # noqa: F405
    "EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
