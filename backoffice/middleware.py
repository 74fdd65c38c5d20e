from django.contrib.auth import get_user_model
from django.utils import translation

# The staff member's chosen language ("" = the browser's), kept in the session: read once at login, changed by
# the language switch, so that no staff page pays a query for it.
SESSION_KEY = "staff_language"


def profile_language(user):
    return (get_user_model().objects.filter(pk=user.pk)
            .values_list("staff_profile__language", flat=True).first() or "")


def remember_language(sender, request, user, **kwargs):
    """user_logged_in receiver (connected in FulfillmentConfig.ready)."""
    if user.is_staff and hasattr(request, "session"):
        request.session[SESSION_KEY] = profile_language(user)


class StaffLanguageMiddleware:
    """After LocaleMiddleware: a staff member's chosen language wins over the browser's Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            language = request.session.get(SESSION_KEY)
            if language is None:  # a session from before the language was kept in it
                language = request.session[SESSION_KEY] = profile_language(user)
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)


class AccountNotFoundMiddleware:
    """My Account's "not found" is the site's own page (templates/projects/404.html) in every configuration.

    With DEBUG on, Django answers a 404 with its debug page (our URL patterns, settings hints) and with DEBUG off
    with a bare "Not Found": neither is for customers. Any 404 under /account/ that is a page (an Http404 raised in a
    view, a URL that matches nothing) is answered with ours instead; JSON answers are left as they are.
    """

    PREFIX = "/account/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code == 404 and request.path_info.startswith(self.PREFIX)
                and not response.get("Content-Type", "").startswith("application/json")):
            from django.shortcuts import render

            return render(request, "projects/404.html", status=404)
        return response


class WebhookMiddleware:
    """The shops' and providers' webhooks go straight to their view, past the staff pages' middleware.

    A webhook is a machine posting a signed body: it has no session, no CSRF token (its views are csrf_exempt), no
    language, no user and no login to throttle. The rest of the chain (sessions, locale, common, CSRF, auth, staff
    language, messages, clickjacking, My Account's 404 page, axes) cost a delivery a third of its CPU for nothing
    (bench/README.md). Placed right after SecurityMiddleware, which still runs for them (HTTPS redirect, HSTS,
    nosniff); the host is still checked against ALLOWED_HOSTS and the answer given its Content-Length, as
    CommonMiddleware would. A path under a webhook prefix that is not a webhook
    view (a missing slash, a 404) takes the whole chain, as before.

    The view is called as Django's handler would call it, decorators and all (csrf_exempt, require_POST, a body
    limit), with its resolver match on the request.
    """

    PREFIXES = ("/webhooks/",)
    VIEWS = frozenset({"fulfillment:woocommerce-webhook", "fulfillment:provider-webhook"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(self.PREFIXES):
            from django.urls import Resolver404, resolve

            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.view_name in self.VIEWS:
                request.get_host()  # DisallowedHost → 400, as CommonMiddleware would answer
                request.resolver_match = match
                response = match.func(request, *match.args, **match.kwargs)
                # CommonMiddleware's one effect a webhook needs: without a length, a kept-alive connection's answer
                # goes chunked (or, for some clients, empty).
                if not response.streaming and not response.has_header("Content-Length"):
                    response.headers["Content-Length"] = str(len(response.content))
                return response
        return self.get_response(request)
