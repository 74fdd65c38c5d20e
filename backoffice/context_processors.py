from django.conf import settings


def demo_systems(request):
    """The demo's local stand-ins [(name, url)] (DEMO_SYSTEMS, set by scripts/run.sh), for the admin's banner."""
    return {"demo_systems": settings.DEMO_SYSTEMS}
