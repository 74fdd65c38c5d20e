"""Production settings: the base settings, HTTPS only, and a refusal to start with what is only fit for a laptop.

DJANGO_SETTINGS_MODULE=backoffice.settings_production for gunicorn, qcluster and manage.py in a deployment;
`manage.py check --deploy` is then clean. It refuses to start with DEBUG on, or without a secret key of its own
(unset, the development key, or one too short or too uniform for Django's check): the key signs sessions, password
reset links and the customers' download links.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from backoffice.settings import *  # noqa: F403 - the base settings, refined below
from backoffice.settings import DEVELOPMENT_SECRET_KEY, env_bool

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DEBUG is on: production refuses to start with it (unset DEBUG, or DEBUG=0).")
if "SECRET_KEY" not in os.environ or SECRET_KEY == DEVELOPMENT_SECRET_KEY:  # noqa: F405
    raise ImproperlyConfigured("SECRET_KEY is not set (the development key would be used): production refuses to "
                               "start without a key of its own, e.g. SECRET_KEY=$(openssl rand -hex 32).")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):  # noqa: F405
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters, e.g. "
                               "SECRET_KEY=$(openssl rand -hex 32).")

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
