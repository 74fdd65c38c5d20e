"""One small function per project event type; each returns an unsaved ProjectEvent (call .save())."""

from projects.models import ProjectEvent


class ProjectEventType:
    CREATED = "created"
    SAVED = "saved"
    RENAMED = "renamed"
    DUPLICATED = "duplicated"
    DELETED = "deleted"
    ASSET_UPLOADED = "asset_uploaded"


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
