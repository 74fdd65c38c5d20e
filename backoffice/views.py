from django.conf import settings
from django.views.i18n import set_language as django_set_language

from backoffice.middleware import SESSION_KEY
from fulfillment.models import StaffProfile


def set_language(request):
    """Django's language switch, remembered in the staff member's profile so it follows them everywhere."""
    response = django_set_language(request)
    language = request.POST.get("language")
    user = request.user
    if request.method == "POST" and user.is_authenticated and user.is_staff and language in dict(settings.LANGUAGES):
        StaffProfile.objects.update_or_create(user=user, defaults={"language": language})
        request.session[SESSION_KEY] = language
    return response
