from django.contrib.auth import get_user_model
from django.utils import translation


class StaffLanguageMiddleware:
    """After LocaleMiddleware: a staff member's chosen language wins over the browser's Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            language = (
                get_user_model().objects.filter(pk=user.pk).values_list("staff_profile__language", flat=True).first()
            )
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)
