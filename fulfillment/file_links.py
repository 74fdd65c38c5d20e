"""Signed links to our production files, for providers that fetch files by URL only (Printful).

A line's render is a file in our storage (a local path); Printful takes `files: [{"url": …}]` and downloads them
itself, possibly days later (an order on hold, a reprint). `file_url` turns such a path into
BACKOFFICE_PUBLIC_URL + /files/production/<signed name>/<file name>, valid for PRODUCTION_FILE_LINK_DAYS; the view
(fulfillment.views.production_file) serves it without a login. Only a file that a registered print-file source
says is one of its production files (fulfillment.print_files.serves: projects' renders) and that lies inside
MEDIA_ROOT is served: the signature proves we made the link, this proves the link names a print file.
"""

import logging
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from fulfillment import print_files

logger = logging.getLogger("fulfillment.file_links")

SALT = "fulfillment.production-file"


class FileLinkError(Exception):
    """A production file cannot be given to a provider as a URL; the message is for staff."""


def is_url(location):
    return str(location).lower().startswith(("http://", "https://"))


def _media_root():
    return Path(settings.MEDIA_ROOT).resolve()


def storage_name(location):
    """The storage name (relative to MEDIA_ROOT) of a local production file, or None when it lies outside it."""
    root = _media_root()
    path = Path(str(location))
    path = (path if path.is_absolute() else root / path).resolve()
    try:
        name = path.relative_to(root).as_posix()
    except ValueError:
        return None
    return name if name and name != "." else None


def servable(name):
    """The local path of a stored production file a provider may fetch, or None (unknown, outside MEDIA_ROOT, or
    not a print file)."""
    if not name or "\x00" in name:
        return None
    root = _media_root()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path.relative_to(root).as_posix() != name:
        return None  # "..", an absolute name or a symlink out: not one of the names we sign
    if not path.is_file() or not print_files.serves(name):
        return None
    return path


def public_url_missing():
    return not settings.BACKOFFICE_PUBLIC_URL


def link_problem(location, *, line_name):
    """Why a production file cannot go to a provider that takes URLs only, in staff's words, or None."""
    if is_url(location):
        return None
    name = storage_name(location)
    if name is None or not print_files.serves(name):
        return _("the production file of %(name)s is a local file this provider cannot fetch (%(file)s)") % {
            "name": line_name, "file": location}
    if public_url_missing():
        return _("the production file of %(name)s must go to the provider as a link, and BACKOFFICE_PUBLIC_URL "
                 "(the back-office's address on the internet) is not set") % {"name": line_name}
    return None


def file_url(location, *, line_name=""):
    """A URL a provider fetches the file from: a URL as it is, a local production file as a signed link."""
    location = str(location)
    if is_url(location):
        return location
    problem = link_problem(location, line_name=line_name or location)
    if problem:
        raise FileLinkError(problem)
    name = storage_name(location)
    token = signing.dumps(name, salt=SALT, compress=True)
    return settings.BACKOFFICE_PUBLIC_URL + reverse("fulfillment:production-file",
                                                    args=[token, Path(name).name])


def served_file(token, filename):
    """The path a signed link names. Raises signing.SignatureExpired, signing.BadSignature, or FileNotFoundError for
    a link that is good but names no production file (any more: a pruned version)."""
    name = signing.loads(token, salt=SALT, max_age=settings.PRODUCTION_FILE_LINK_DAYS * 86400)
    if not isinstance(name, str) or Path(name).name != filename:
        raise signing.BadSignature("the link's file name is not the signed one")
    path = servable(name)
    if path is None:
        raise FileNotFoundError(name)
    return path
