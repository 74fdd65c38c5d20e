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
