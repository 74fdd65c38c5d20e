"""The JSON API the shop's product editor calls: create a project, save its pages, upload images, preview.

Authenticated per store with `Authorization: Bearer <key>` (manage.py create_editor_key). The key is the shop's
server-side secret: the shop says which of its customers is logged in (customer_id / customer_email), and an
anonymous project is reached with its resume token. Errors are JSON {"error": ..., "field": ...}: 400 for bad input,
401 for a wrong key, 404 for a project of another store or customer, 409 for a project that may not change.
"""

import functools
import hmac
import json
import logging

from django.core import signing
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from backoffice.numbers import whole_number
from backoffice.request_limits import MAX_JSON_DEPTH, body_limit, nested_deeper_than
from projects.choices import ProjectState, RenderPurpose
from projects.errors import ProjectError, ProjectReadOnly
from projects.models import ProductTemplate, Project, Render
from projects.selectors import project_assets
from projects.services.api_keys import editor_key_authenticate
from projects.services.assets import asset_upload
from projects.services.customers import customer_for_editor
from projects.services.projects import project_create, project_save_pages
from projects.services.rendering import render_request
from projects.views.files import stored_file_response

FILE_SALT = "projects.editor-file"
REF_MAX_LENGTH = 32  # Project.ref's max_length
FILE_URL_MAX_AGE = 3600  # a preview link handed to the editor works for an hour

logger = logging.getLogger("projects.editor_api")


class BadRequest(ProjectError):
    pass


def error_response(message, field=None, status=400):
    return JsonResponse({"error": str(message), "field": field}, status=status)


def editor_api(view):
    """Key check, JSON errors, no CSRF (no cookies are used: the key authenticates)."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        api_key = editor_key_authenticate(key.strip()) if scheme.lower() == "bearer" else None
        if api_key is None:
            logger.warning("editor API: %s %s refused: missing, unknown or revoked API key (from %s)",
                           request.method, request.path[:200], request.META.get("REMOTE_ADDR", "?"))
            response = error_response("missing, unknown or revoked API key", "Authorization", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="editor"'
            return response
        request.store = api_key.store
        try:
            return view(request, *args, **kwargs)
        except ProjectReadOnly as error:
            return _refused(request, error_response(error.message, error.field, status=409))
        except ProjectError as error:
            return _refused(request, error_response(error.message, error.field))
        except Http404:
            return _refused(request, error_response("no such project", None, status=404))
        except MultiPartParserError as error:
            return _refused(request, error_response(f"the multipart body cannot be read: {error}", "file"))

    return wrapper


def _refused(request, response):
    logger.warning("editor API: store %s: %s %s refused with %d: %s", request.store.slug, request.method,
                   request.path[:200], response.status_code, response.content[:300].decode(errors="replace"))
    return response


def _body(request):
    """The request's JSON object, or the form fields of a multipart request."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than even the parser goes
            raise BadRequest("the body is not valid JSON", field="body") from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object", field="body")
        if nested_deeper_than(data):
            raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
        return data
    return request.POST


def _param(request, data, name):
    return data.get(name) if data.get(name) is not None else request.GET.get(name)


def _customer(request, data):
    """The shop's logged-in customer, as an account here (None when not given or not known)."""
    customer_id = _param(request, data, "customer_id")
    email = _param(request, data, "customer_email")
    if customer_id in ("", None, "0") or type(customer_id) is int and customer_id == 0:  # 0: WooCommerce's guest
        customer_id = None
    else:
        # A JSON number or its ASCII digits: int() would take '١٢٣', 1.9 or True for an id too.
        customer_id = (customer_id if type(customer_id) is int and 0 < customer_id < 10**18
                       else whole_number(customer_id))
        if customer_id is None:
            raise BadRequest("customer_id must be the WooCommerce customer id (a number)", field="customer_id")
    if email is not None and (not isinstance(email, str) or "\x00" in email):
        raise BadRequest("customer_email must be a string (of no NUL characters)", field="customer_email")
    if not customer_id and not email:
        return None
    return customer_for_editor(store=request.store, woo_customer_id=customer_id, email=email)


def _project(request, ref, data):
    """The store's project, if the caller holds its resume token or is its owner; else 404."""
    if "\x00" in ref or len(ref) > REF_MAX_LENGTH:  # no ref is (PostgreSQL refuses NUL in a query's text)
        raise Http404
    project = (Project.objects.select_related("template", "owner")
               .filter(store=request.store, ref=ref).exclude(state=ProjectState.ARCHIVED).first())
    if project is None:
        raise Http404
    token = request.headers.get("X-Resume-Token") or _param(request, data, "resume_token") or ""
    # As bytes: compare_digest refuses (TypeError) a str with anything but ASCII in it.
    if isinstance(token, str) and token and hmac.compare_digest(token.encode(), project.resume_token.encode()):
        return project
    if project.owner_id is not None:
        customer = _customer(request, data)
        if customer is not None and customer.pk == project.owner_id:
            return project
    raise Http404


def file_url(request, name):
    token = signing.dumps(name, salt=FILE_SALT)
    return request.build_absolute_uri(reverse("editor_api:file", args=[token]))


def _template_json(template):
    return {"id": template.pk, "name": template.name, "product_ids": template.product_ids,
            "trim_width_mm": str(template.trim_width_mm), "trim_height_mm": str(template.trim_height_mm),
            "bleed_mm": str(template.bleed_mm), "dpi": template.dpi, "min_pages": template.min_pages,
            "max_pages": template.max_pages, "page_layouts": template.page_layouts}


def _asset_json(request, asset):
    return {"id": asset.pk, "width": asset.width, "height": asset.height, "format": asset.format,
            "size": asset.size, "sha256": asset.sha256, "url": file_url(request, asset.image.name),
            "thumbnail_url": file_url(request, asset.thumbnail.name) if asset.thumbnail else None}


def _project_json(request, project):
    return {
        "id": project.ref,
        "title": project.title,
        "state": project.state,
        "owned": project.owner_id is not None,
        "resume_token": project.resume_token,
        "template": _template_json(project.template),
        "pages": project.pages,
        "assets": [_asset_json(request, asset) for asset in project_assets(project)],
        # What the shop puts in the cart line's meta: the order line that arrives with it links to this project.
        "cart_item_meta": {"_project_id": project.ref},
        "updated_at": project.updated_at.isoformat(),
    }


def _render_json(request, render_row):
    return {"id": render_row.pk, "version": render_row.version, "purpose": render_row.purpose,
            "state": render_row.state, "error": render_row.error,
            "previews": [file_url(request, name) for name in render_row.previews],
            "mockup": file_url(request, render_row.mockup.name) if render_row.mockup else None}


def _template_for(request, data):
    template_id, product_id = data.get("template"), data.get("product_id")
    templates = ProductTemplate.objects.filter(store=request.store)
    if template_id is not None:
        if isinstance(template_id, bool) or not isinstance(template_id, int):
            raise BadRequest("template must be a template id (a number)", field="template")
        template = templates.filter(pk=template_id).first()
        if template is None:
            raise BadRequest("this shop has no such product template", field="template")
        return template
    if product_id is not None:
        if isinstance(product_id, bool) or not isinstance(product_id, int):
            raise BadRequest("product_id must be a WooCommerce product or variation id", field="product_id")
        # A shop has a handful of templates: read them rather than rely on JSON containment, which SQLite lacks.
        for template in templates:
            if product_id in (template.product_ids or []):
                return template
        raise BadRequest("no product template serves this product", field="product_id")
    raise BadRequest("give the template id or the WooCommerce product_id", field="template")


@editor_api
@body_limit("EDITOR_API_MAX_BYTES")  # inside the key check: the store is known when refused
@require_http_methods(["POST"])
def project_create_view(request):
    data = _body(request)
    template = _template_for(request, data)
    title = data.get("title", "")
    if not isinstance(title, str):
        raise BadRequest("title must be a string", field="title")
    owner = _customer(request, data)
    project = project_create(store=request.store, template=template, owner=owner, title=title, source="editor_api")
    return JsonResponse(_project_json(request, project), status=201)


@editor_api
@require_GET
def project_detail_view(request, ref):
    return JsonResponse(_project_json(request, _project(request, ref, {})))


@editor_api
@body_limit("EDITOR_API_MAX_BYTES")  # inside the key check: the store is known when refused
@require_http_methods(["PUT", "POST"])
def project_pages_view(request, ref):
    data = _body(request)
    project = _project(request, ref, data)
    if "pages" not in data:
        raise BadRequest("send the pages", field="pages")
    project = project_save_pages(project=project, pages=data["pages"], user=project.owner, source="editor_api")
    return JsonResponse(_project_json(request, project))


@editor_api
@body_limit("EDITOR_UPLOAD_MAX_BYTES")
@require_http_methods(["POST"])
def project_asset_view(request, ref):
    project = _project(request, ref, request.POST)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        raise BadRequest("send the image as the multipart field 'file'", field="file")
    asset = asset_upload(project=project, uploaded_file=uploaded, user=project.owner)
    return JsonResponse(_asset_json(request, asset), status=201)


@editor_api
@body_limit("EDITOR_API_MAX_BYTES")  # inside the key check: the store is known when refused
@require_http_methods(["POST"])
def project_render_view(request, ref):
    data = _body(request)
    project = _project(request, ref, data)
    render_row = render_request(project=project, purpose=RenderPurpose.PREVIEW, user=project.owner,
                                reason="Editor preview")
    render_row.refresh_from_db()
    return JsonResponse(_render_json(request, render_row), status=202)


@editor_api
@require_GET
def render_detail_view(request, ref, render_id):
    project = _project(request, ref, {})
    render_row = Render.objects.filter(project=project, pk=render_id).first()
    if render_row is None:
        raise Http404
    return JsonResponse(_render_json(request, render_row))


@require_GET
def file_view(request, token):
    """A stored image or preview, through a signed link handed out by the API (an <img> sends no key)."""
    try:
        name = signing.loads(token, salt=FILE_SALT, max_age=FILE_URL_MAX_AGE)
    except signing.BadSignature:
        raise Http404 from None
    if not isinstance(name, str):
        raise Http404
    return stored_file_response(name, max_age=FILE_URL_MAX_AGE)
