"""The order timeline's entries about personalisation projects: one small function per event type.

Each returns an unsaved fulfillment OrderEvent; the messages follow fulfillment/events.py (kept as data, rendered
in each reader's language; `message` is the English).
"""

from django.utils.translation import gettext_noop as N_

from fulfillment.choices import EventSource, EventType
from fulfillment.events import order_event
from fulfillment.models import OrderEvent
from fulfillment.texts import plural_text, text


def _with_warnings(spec, warnings):
    if not warnings:
        return spec
    listed = "; ".join(w.get("message", "") for w in warnings[:3]) + ("; …" if len(warnings) > 3 else "")
    return plural_text("%(rendered)s; %(count)s warning: %(warnings)s",
                       "%(rendered)s; %(count)s warnings: %(warnings)s", len(warnings), rendered=spec,
                       warnings=listed)


def project_linked(project, *, order, line, render):
    return order_event(text(N_("%(line)s: project %(ref)s (%(title)s); production file being rendered (v%(version)s)"),
                       line=line.name, ref=project.ref, title=project.title or project.template.name,
                       version=render.version),
                  order_id=order.pk, type=EventType.PROJECT_LINKED, source=EventSource.SYSTEM,
                  data={"project_id": project.pk, "ref": project.ref, "line": line.woo_line_id,
                        "render_id": render.pk, "version": render.version})


def rendered(render, *, order):
    spec = plural_text("Project %(ref)s v%(version)s: %(count)s page", "Project %(ref)s v%(version)s: %(count)s pages",
                       len(render.previews), ref=render.project.ref, version=render.version)
    return order_event(_with_warnings(spec, render.warnings), order_id=order.pk, type=EventType.PROJECT_RENDERED,
                  source=EventSource.SYSTEM,
                  data={"project_id": render.project_id, "render_id": render.pk, "version": render.version,
                        "checksum": render.checksum, "warnings": len(render.warnings)})


def render_failed(render, *, order):
    return order_event(text(N_("Project %(ref)s v%(version)s: %(error)s"), ref=render.project.ref, version=render.version,
                       error=render.error),
                  order_id=order.pk, type=EventType.RENDER_FAILED, source=EventSource.SYSTEM,
                  data={"project_id": render.project_id, "render_id": render.pk, "version": render.version})


def reprocessed(reprocess, *, versions):
    """versions: [(project ref, version in production before or None, new version)]."""
    changes = ", ".join(f"{ref} v{old or '—'} → v{new}" for ref, old, new in versions)
    return OrderEvent(order_id=reprocess.order_id, type=EventType.REPROCESSED, source=EventSource.STAFF,
                      user=reprocess.requested_by, message=f"{reprocess.reason} ({changes})",
                      data={"reprocess_id": reprocess.pk, "reason": reprocess.reason,
                            "projects": [{"ref": ref, "from_version": old, "to_version": new}
                                         for ref, old, new in versions]})


def reprocess_outcome(reprocess):
    return OrderEvent(order_id=reprocess.order_id, type=EventType.REPROCESSED, source=EventSource.SYSTEM,
                      message=reprocess.outcome,
                      data={"reprocess_id": reprocess.pk, "state": reprocess.state})
