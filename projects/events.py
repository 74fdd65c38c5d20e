"""One small function per project event type; each returns an unsaved ProjectEvent (call .save())."""

from projects.models import ProjectEvent


class ProjectEventType:
    CREATED = "created"
    SAVED = "saved"
    RENAMED = "renamed"
    DUPLICATED = "duplicated"
    DELETED = "deleted"
    ASSET_UPLOADED = "asset_uploaded"
    ORDERED = "ordered"
    RENDER_REQUESTED = "render_requested"
    RENDERED = "rendered"
    RENDER_FAILED = "render_failed"
    STAFF_EDITED = "staff_edited"
    REPROCESSED = "reprocessed"


def project_created_event(project, *, user=None, source="editor"):
    return ProjectEvent(project=project, type=ProjectEventType.CREATED, user=user,
                        message=f"Project {project.ref} created ({project.template.name})",
                        data={"source": source, "template_id": project.template_id})


def pages_saved_event(project, *, user=None, source="editor"):
    return ProjectEvent(project=project, type=ProjectEventType.SAVED, user=user,
                        message=f"Pages saved ({len(project.pages)})",
                        data={"source": source, "page_count": len(project.pages)})


def renamed_event(project, *, before, after, user=None):
    return ProjectEvent(project=project, type=ProjectEventType.RENAMED, user=user,
                        message=f"Renamed: {before or '—'} → {after}", data={"before": before, "after": after})


def duplicated_event(copy, *, source, user=None):
    return ProjectEvent(project=copy, type=ProjectEventType.DUPLICATED, user=user,
                        message=f"Copied from {source.ref}", data={"source_id": source.pk, "source_ref": source.ref})


def asset_uploaded_event(asset, *, user=None):
    return ProjectEvent(project_id=asset.project_id, type=ProjectEventType.ASSET_UPLOADED, user=user,
                        message=f"Image uploaded ({asset.format}, {asset.width}×{asset.height})",
                        data={"asset_id": asset.pk, "sha256": asset.sha256})


def deleted_event(project, *, user=None):
    return ProjectEvent(project=project, type=ProjectEventType.DELETED, user=user,
                        message="Deleted by the customer (archived)", data={})


# -- ordering, rendering and staff changes -----------------------------------------------------------------

def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def ordered_event(project, *, order):
    return ProjectEvent(project=project, type=ProjectEventType.ORDERED,
                        message=f"Ordered in #{order.number}", data={"order_id": order.pk, "number": order.number})


def render_requested_event(render):
    purpose = render.get_purpose_display().lower()
    return ProjectEvent(project_id=render.project_id, type=ProjectEventType.RENDER_REQUESTED, user=render.requested_by,
                        message=f"Version {render.version} ({purpose}) asked for" + (
                            f": {render.reason}" if render.reason else ""),
                        data={"render_id": render.pk, "version": render.version, "purpose": render.purpose})


def rendered_event(render):
    return ProjectEvent(project_id=render.project_id, type=ProjectEventType.RENDERED,
                        message=f"Version {render.version} rendered ({_count(len(render.previews), 'page')}"
                                + (f", {_count(len(render.warnings), 'warning')})" if render.warnings else ")"),
                        data={"render_id": render.pk, "version": render.version, "checksum": render.checksum})


def render_failed_event(render):
    return ProjectEvent(project_id=render.project_id, type=ProjectEventType.RENDER_FAILED,
                        message=f"Version {render.version} failed: {render.error}",
                        data={"render_id": render.pk, "version": render.version})


def staff_edited_event(project, *, user, changes):
    return ProjectEvent(project=project, type=ProjectEventType.STAFF_EDITED, user=user,
                        message="Changed by staff: " + "; ".join(changes), data={"changes": changes})


def reprocessed_event(render, *, order):
    return ProjectEvent(project_id=render.project_id, type=ProjectEventType.REPROCESSED, user=render.requested_by,
                        message=f"Reprocess of #{order.number}: {render.reason}",
                        data={"order_id": order.pk, "render_id": render.pk, "version": render.version})
