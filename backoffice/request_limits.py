"""A body limit per view: a request whose body is larger is refused with 413 before its body is read whole.

`@body_limit("WEBHOOK_MAX_BYTES")` on a view (the setting's name, read at each request, so tests may change it):

- a `Content-Length` over the limit is refused at once, nothing of the body is read;
- a body without a length (`Transfer-Encoding: chunked`, which Django's own stream reads as empty) is read from the
  server's input in chunks, at most limit + 1 bytes, and refused as soon as it passes the limit;
- a body shorter than its `Content-Length` (the client went away, or stopped sending until the server's timeout) is
  refused with 400: what came is not what was sent.

Every refusal is logged (logger `backoffice.request_limits`) with the view's URL name, the store where the URL or
the view says it, the sizes and the client's address. The body read is then the request's `body` (and the source of
`POST`/`FILES`), so the view reads it as usual; Django's DATA_UPLOAD_MAX_MEMORY_SIZE stays the limit of every view
without a limit of its own.
"""

import functools
import io
import logging

from django.conf import settings
from django.http import JsonResponse

logger = logging.getLogger("backoffice.request_limits")

CHUNK_BYTES = 64 * 1024


class BodyRefused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


def read_body(request, limit):
    """The request's body, at most `limit` bytes; raises BodyRefused (413 over the limit, 400 short of its length)."""
    announced = request.META.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if announced:
        if not (announced.isascii() and announced.isdigit()):
            raise BodyRefused(400, f"Content-Length {announced[:40]!r} is not a number of bytes")
        length = int(announced)
        if length > limit:
            raise BodyRefused(413, f"Content-Length {length} is over the limit of {limit} bytes")
        stream, expected = request, length
    elif chunked:
        # Django reads a body without Content-Length as empty; the server (gunicorn) de-chunks wsgi.input itself.
        stream, expected = request.environ["wsgi.input"], None
    else:
        return b""
    parts, size = [], 0
    while True:
        part = stream.read(min(CHUNK_BYTES, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > limit:
            raise BodyRefused(413, f"the body grew past the limit of {limit} bytes while it was read (no length given)")
    if expected is not None and size < expected:
        raise BodyRefused(400, f"the body ended after {size} of its {expected} bytes")
    return b"".join(parts)


def _store_of(request, kwargs):
    store = getattr(request, "store", None)
    if store is not None:
        return getattr(store, "slug", str(store))
    for name in ("slug", "store", "provider_id"):
        if name in kwargs:
            return f"{name} {kwargs[name]}"
    return "-"


def body_limit(setting_name, *, methods=("POST", "PUT", "PATCH")):
    """Hold the view's request bodies to `settings.<setting_name>` bytes (see the module's docstring)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods or hasattr(request, "_body"):
                return view(request, *args, **kwargs)
            limit = getattr(settings, setting_name)
            try:
                body = read_body(request, limit)
            except BodyRefused as refused:
                match = getattr(request, "resolver_match", None)
                logger.warning("request body refused with %d: %s (endpoint %s, store %s, %s %s, from %s)",
                               refused.status, refused.reason, match.view_name if match else "-",
                               _store_of(request, kwargs), setting_name, limit, request.META.get("REMOTE_ADDR", "?"))
                return JsonResponse({"error": refused.reason, "limit": setting_name}, status=refused.status)
            request._body = body
            request._stream = io.BytesIO(body)
            request._read_started = False
            request.META["CONTENT_LENGTH"] = str(len(body))  # a de-chunked multipart body is parsed by its length
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


MAX_JSON_DEPTH = 64  # an order, a provider's event, a project's pages: a handful of levels


def nested_deeper_than(value, depth=MAX_JSON_DEPTH):
    """Whether parsed JSON nests lists and objects more than `depth` levels (walked without recursion).

    Python's JSON parser reads some thousands of levels, and every recursive walk of the result (a copy, a
    serialiser, a check) then fails with RecursionError: such a value is refused where it comes in.
    """
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if level > depth:
            return True
        stack.extend((child, level + 1) for child in item if isinstance(child, (dict, list)))
    return False
