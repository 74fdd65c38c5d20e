"""Logins throttled with django-axes: the admin's and My Account's.

After AXES_FAILURE_LIMIT failed logins for one username from one IP address, that pair is locked out for
AXES_COOLOFF_TIME (settings.py); a lockout is answered 429 with a page in the visitor's language and logged
(`backoffice.security`). Staff unlock a pair early with `manage.py axes_reset_username <name>` (or axes_reset_ip,
axes_reset).
"""

import logging

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off, get_failure_limit
from django.shortcuts import render
from django.utils.translation import gettext as _

log = logging.getLogger("backoffice.security")


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check before the password is: refuses a locked-out username and address.

    An authenticate() without a request (the shell, a management command, the test client's login()) comes from
    no visitor and has no address: it is not throttled, where axes' own backend would refuse it with an error.
    """

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def username(request, credentials):
    """The name a lockout counts by: My Account's emails in any case are one address, as the form makes them."""
    name = (credentials or {}).get("username") or request.POST.get("username") or ""
    return name.strip().lower()


def locked_out(request, original_response=None, credentials=None):
    """The answer to a locked-out login: 429, the admin's or My Account's page, in the visitor's language."""
    name = username(request, credentials)
    minutes = int(get_cool_off(request).total_seconds() // 60)
    log.warning("login locked out: username %r from %s on %s after %s failures; locked for %s minutes",
                name, getattr(request, "axes_ip_address", request.META.get("REMOTE_ADDR")), request.path,
                get_failure_limit(request, credentials), minutes)
    admin = request.path.startswith("/admin/")
    template = "admin/locked_out.html" if admin else "projects/account/locked_out.html"
    message = _("Too many failed logins for this account from your address. For your safety, logging in is blocked "
                "for %(minutes)s minutes; try again after that, or ask an administrator to unlock it.") % {
                    "minutes": minutes}
    context = {"message": message, "title": _("Logging in is blocked for a while")}
    if admin:
        from django.contrib import admin as django_admin

        context.update(django_admin.site.each_context(request))
    return render(request, template, context, status=429)
