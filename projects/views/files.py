import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404


def stored_file_response(name, *, max_age):
    """A stored file, after the caller checked who may see it (never a public /media/ URL)."""
    if not name or not default_storage.exists(name):
        raise Http404
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    # Stored files never change (a new render is a new version): the browser may keep them, no shared cache may.
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response
