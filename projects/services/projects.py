"""What a customer (in My Account) or the shop's editor (through the API) does to a project."""

from django.db import transaction
from django.utils.translation import gettext as _

from projects import events
from projects.choices import ProjectState
from projects.errors import ProjectError, ProjectReadOnly
from projects.models import Project, ProjectAsset

TITLE_MAX_LENGTH = 200
# A slot may set its own "max_chars"; this is the ceiling for those that do not (a caption, a name, a date).
TEXT_MAX_CHARS = 500
SCALE_RANGE = (1.0, 10.0)


def page_layout(template, index):
    """The template's layout of page `index`: a book repeats its last layout up to its maximum page count."""
    layouts = template.page_layouts or [{}]
    return layouts[min(index, len(layouts) - 1)]


def empty_pages(template):
    return [{"slots": {}} for _ in range(max(template.min_pages, 1))]


def _locked(project):
    return Project.objects.select_for_update().get(pk=project.pk)


def ensure_customer_may_edit(project, user=None):
    """Customers change drafts only; once ordered, a project changes through staff (and a reprocess)."""
    if project.state == ProjectState.DRAFT or (user is not None and user.is_staff):
        return
    if project.state == ProjectState.ORDERED:
        raise ProjectReadOnly(_("This project has been ordered: it can no longer be changed."))
    raise ProjectReadOnly(_("This project has been deleted."))


def _number(value, field, *, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ProjectError(_("Expected a number from %(low)s to %(high)s.") % {"low": low, "high": high}, field=field)
    return float(value)


def _clean_photo(value, field, asset_ids):
    if not isinstance(value, dict):
        raise ProjectError(_("A photo slot takes an object with an \"asset\"."), field=field)
    asset = value.get("asset")
    if asset is None:
        return None  # an empty photo slot
    if isinstance(asset, bool) or not isinstance(asset, int) or asset not in asset_ids:
        raise ProjectError(_("This image is not one of the project's uploads."), field=f"{field}.asset")
    cleaned = {"asset": asset}
    if value.get("focal") is not None:
        focal = value["focal"]
        if not isinstance(focal, list) or len(focal) != 2:
            raise ProjectError(_("The focal point is a pair [x, y], each from 0 to 1."), field=f"{field}.focal")
        cleaned["focal"] = [_number(v, f"{field}.focal", low=0, high=1) for v in focal]
    if value.get("scale") is not None:
        cleaned["scale"] = _number(value["scale"], f"{field}.scale", low=SCALE_RANGE[0], high=SCALE_RANGE[1])
    return cleaned


def _clean_text(value, field, slot):
    text = value.get("text") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise ProjectError(_("A text slot takes an object with a \"text\" string."), field=field)
    text = text.replace("\r\n", "\n").strip()
    limit = int(slot.get("max_chars") or TEXT_MAX_CHARS)
    if len(text) > limit:
        raise ProjectError(_("This text is too long: at most %(limit)s characters.") % {"limit": limit},
                           field=f"{field}.text")
    return {"text": text} if text else None


def validate_pages(template, pages, *, asset_ids):
    """Check pages against the template and return a clean copy; a ProjectError names the first wrong field."""
    if not isinstance(pages, list):
        raise ProjectError(_("Expected a list of pages."), field="pages")
    if not template.min_pages <= len(pages) <= template.max_pages:
        raise ProjectError(_("This product has from %(min)s to %(max)s pages, not %(count)s.") % {
            "min": template.min_pages, "max": template.max_pages, "count": len(pages)}, field="pages")
    cleaned_pages = []
    for index, page in enumerate(pages):
        field = f"pages[{index}].slots"
        slots = page.get("slots", {}) if isinstance(page, dict) else None
        if not isinstance(slots, dict):
            raise ProjectError(_("Expected the page's slots as an object keyed by slot id."), field=field)
        layout = {slot["id"]: slot for slot in page_layout(template, index).get("slots", [])}
        cleaned = {}
        for slot_id, value in slots.items():
            slot = layout.get(slot_id)
            if slot is None:
                raise ProjectError(_("This page has no slot \"%(slot)s\".") % {"slot": slot_id},
                                   field=f"{field}.{slot_id}")
            if slot.get("kind") == "photo":
                value = _clean_photo(value, f"{field}.{slot_id}", asset_ids)
            else:
                value = _clean_text(value, f"{field}.{slot_id}", slot)
            if value is not None:
                cleaned[slot_id] = value
        cleaned_pages.append({"slots": cleaned})
    return cleaned_pages


def project_create(*, store, template, owner=None, title="", source="editor"):
    """Start a project when the editor opens: empty pages, owned by the customer or resumable by its token."""
    if template.store_id != store.pk:
        raise ProjectError(_("This shop has no such product template."), field="template")
    title = _clean_title(title, required=False) or template.name
    with transaction.atomic():
        project = Project.objects.create(store=store, template=template, owner=owner, title=title,
                                         pages=empty_pages(template))
        events.project_created_event(project, user=owner, source=source).save()
    return project


def project_save_pages(*, project, pages, user=None, source="editor"):
    """Save the pages made in the editor, validated against the template and the project's own images."""
    with transaction.atomic():
        project = _locked(project)
        ensure_customer_may_edit(project, user)
        asset_ids = set(ProjectAsset.objects.filter(project=project).values_list("pk", flat=True))
        project.pages = validate_pages(project.template, pages, asset_ids=asset_ids)
        project.save(update_fields=["pages", "updated_at"])
        events.pages_saved_event(project, user=user, source=source).save()
    return project


def _clean_title(title, *, required=True):
    # NUL: PostgreSQL's text cannot hold it (the editor API's title would fail the insert); it is no character.
    title = " ".join(str(title or "").replace("\x00", "").split())
    if required and not title:
        raise ProjectError(_("Give the project a name."), field="title")
    if len(title) > TITLE_MAX_LENGTH:
        raise ProjectError(_("The name is too long: at most %(limit)s characters.") % {"limit": TITLE_MAX_LENGTH},
                           field="title")
    return title


def project_rename(*, project, title, user=None):
    """Give a project another name; ordered projects keep theirs, as on the order."""
    title = _clean_title(title)
    with transaction.atomic():
        project = _locked(project)
        ensure_customer_may_edit(project, user)
        before = project.title
        if before != title:
            project.title = title
            project.save(update_fields=["title", "updated_at"])
            events.renamed_event(project, before=before, after=title, user=user).save()
    return project


def project_duplicate(*, project, user=None):
    """A new draft with the same pages and images, e.g. to order a variant of an ordered photo book."""
    if project.state == ProjectState.ARCHIVED:
        raise ProjectReadOnly(_("This project has been deleted."))
    title = _("Copy of %(title)s") % {"title": project.title or project.ref}
    with transaction.atomic():
        copy = Project.objects.create(store=project.store, template=project.template, owner=project.owner,
                                      title=title[:TITLE_MAX_LENGTH], pages=[])
        # The copy's images point at the same stored files: files are never changed or deleted once written.
        asset_map = {}
        for asset in ProjectAsset.objects.filter(project=project).order_by("pk"):
            old_pk = asset.pk
            asset.pk = None
            asset.project = copy
            asset.save()
            asset_map[old_pk] = asset.pk
        copy.pages = [{"slots": {slot_id: ({**value, "asset": asset_map[value["asset"]]} if "asset" in value else value)
                                 for slot_id, value in page.get("slots", {}).items()}}
                      for page in project.pages]
        copy.save(update_fields=["pages"])
        events.duplicated_event(copy, source=project, user=user).save()
    return copy


def project_delete(*, project, user=None):
    """Remove a draft from the customer's projects.

    The row stays, archived: the cart may still hold a line with its id, and staff keep the history.
    """
    with transaction.atomic():
        project = _locked(project)
        if project.state != ProjectState.DRAFT:
            raise ProjectReadOnly(_("Only saved projects can be deleted; ordered ones stay with their order."))
        project.state = ProjectState.ARCHIVED
        project.save(update_fields=["state", "updated_at"])
        events.deleted_event(project, user=user).save()
    return project
