"""Staff changing a project after the order: another photo in a slot, moved or zoomed, other texts."""

from django.db import transaction

from projects import events
from projects.choices import RenderPurpose
from projects.models import Project, ProjectAsset
from projects.services.projects import validate_pages
from projects.services.rendering import render_request


def _describe(number, slot_id, before, after):
    where = f"page {number}, {slot_id}"
    before, after = before or {}, after or {}
    if "text" in before or "text" in after:
        return [f"{where}: “{before.get('text', '')}” → “{after.get('text', '')}”"]
    changes = []
    if before.get("asset") != after.get("asset"):
        changes.append(f"{where}: image {before.get('asset') or '—'} → {after.get('asset') or '—'}")
    focal = (before.get("focal") or [0.5, 0.5], after.get("focal") or [0.5, 0.5])
    if focal[0] != focal[1]:
        changes.append(f"{where}: focal point {_pair(focal[0])} → {_pair(focal[1])}")
    scale = (before.get("scale") or 1.0, after.get("scale") or 1.0)
    if scale[0] != scale[1]:
        changes.append(f"{where}: zoom {scale[0]:g} → {scale[1]:g}")
    return changes


def _pair(values):
    return ", ".join(f"{v:g}" for v in values)


def page_changes(before, after):
    """What differs between two versions of a project's pages, in staff's words."""
    changes = []
    for index in range(max(len(before), len(after))):
        old = (before[index] if index < len(before) else {}).get("slots") or {}
        new = (after[index] if index < len(after) else {}).get("slots") or {}
        for slot_id in sorted(set(old) | set(new)):
            if old.get(slot_id) != new.get(slot_id):
                changes += _describe(index + 1, slot_id, old.get(slot_id), new.get(slot_id))
    return changes


def project_staff_edit(*, project, pages, user):
    """Save staff's change of a project (checked as the editor's) and ask for a new preview; returns the render.

    Nothing changed: nothing saved, no event, no render (None). The print file changes only with a reprocess.
    """
    with transaction.atomic():
        project = Project.objects.select_for_update(of=("self",)).select_related("template").get(pk=project.pk)
        asset_ids = set(ProjectAsset.objects.filter(project=project).values_list("pk", flat=True))
        cleaned = validate_pages(project.template, pages, asset_ids=asset_ids)
        changes = page_changes(project.pages, cleaned)
        if not changes:
            return None
        project.pages = cleaned
        project.save(update_fields=["pages", "updated_at"])
        events.staff_edited_event(project, user=user, changes=changes).save()
        return render_request(project=project, purpose=RenderPurpose.PREVIEW, user=user, reason="staff edit")
