"""One small function per project event type; each returns an unsaved ProjectEvent (call .save()).

The sentences are kept as data (fulfillment.texts), shown in the reader's language; `message` is the English.
"""

from django.utils.translation import gettext_noop as N_

from fulfillment.texts import english, plural_text, text
from projects.models import ProjectEvent


def _event(spec, **fields):
    return ProjectEvent(message=english(spec), text=spec, **fields)


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
    return _event(text(N_("Project %(ref)s created (%(template)s)"), ref=project.ref, template=project.template.name),
                  project=project, type=ProjectEventType.CREATED, user=user,
                  data={"source": source, "template_id": project.template_id})


def pages_saved_event(project, *, user=None, source="editor"):
    return _event(text(N_("Pages saved (%(count)s)"), count=len(project.pages)),
                  project=project, type=ProjectEventType.SAVED, user=user,
                  data={"source": source, "page_count": len(project.pages)})


def renamed_event(project, *, before, after, user=None):
    return _event(text(N_("Renamed: %(before)s → %(after)s"), before=before or "—", after=after),
                  project=project, type=ProjectEventType.RENAMED, user=user, data={"before": before, "after": after})


def duplicated_event(copy, *, source, user=None):
    return _event(text(N_("Copied from %(ref)s"), ref=source.ref),
                  project=copy, type=ProjectEventType.DUPLICATED, user=user,
                  data={"source_id": source.pk, "source_ref": source.ref})


def asset_uploaded_event(asset, *, user=None):
    return _event(text(N_("Image uploaded (%(format)s, %(width)s×%(height)s)"), format=asset.format,
                       width=asset.width, height=asset.height),
                  project_id=asset.project_id, type=ProjectEventType.ASSET_UPLOADED, user=user,
                  data={"asset_id": asset.pk, "sha256": asset.sha256})


def deleted_event(project, *, user=None):
    return _event(text(N_("Deleted by the customer (archived)")),
                  project=project, type=ProjectEventType.DELETED, user=user, data={})


# -- ordering, rendering and staff changes -----------------------------------------------------------------

def ordered_event(project, *, order):
    return _event(text(N_("Ordered in #%(number)s"), number=order.number),
                  project=project, type=ProjectEventType.ORDERED, data={"order_id": order.pk, "number": order.number})


def render_requested_event(render):
    if render.purpose == "production":
        spec = text(N_("Version %(version)s (production) asked for"), version=render.version)
    else:
        spec = text(N_("Version %(version)s (preview) asked for"), version=render.version)
    if render.reason:
        spec = text(N_("%(request)s: %(reason)s"), request=spec, reason=render.reason)
    return _event(spec, project_id=render.project_id, type=ProjectEventType.RENDER_REQUESTED, user=render.requested_by,
                  data={"render_id": render.pk, "version": render.version, "purpose": render.purpose})


def rendered_event(render):
    pages = plural_text("Version %(version)s rendered (%(count)s page)",
                        "Version %(version)s rendered (%(count)s pages)", len(render.previews), version=render.version)
    if render.warnings:
        pages = plural_text("%(rendered)s, %(count)s warning", "%(rendered)s, %(count)s warnings",
                            len(render.warnings), rendered=pages)
    return _event(pages, project_id=render.project_id, type=ProjectEventType.RENDERED,
                  data={"render_id": render.pk, "version": render.version, "checksum": render.checksum})


def render_failed_event(render):
    return _event(text(N_("Version %(version)s failed: %(error)s"), version=render.version, error=render.error),
                  project_id=render.project_id, type=ProjectEventType.RENDER_FAILED,
                  data={"render_id": render.pk, "version": render.version})


def staff_edited_event(project, *, user, changes):
    return _event(text(N_("Changed by staff: %(changes)s"), changes="; ".join(changes)),
                  project=project, type=ProjectEventType.STAFF_EDITED, user=user, data={"changes": changes})


def reprocessed_event(render, *, order):
    return _event(text(N_("Reprocess of #%(number)s: %(reason)s"), number=order.number, reason=render.reason),
                  project_id=render.project_id, type=ProjectEventType.REPROCESSED, user=render.requested_by,
                  data={"order_id": order.pk, "render_id": render.pk, "version": render.version})
