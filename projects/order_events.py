"""The order timeline's entries about personalisation projects: one small function per event type.

Each returns an unsaved fulfillment OrderEvent; the messages follow fulfillment/events.py (plain English, kept
as written, with the values in `data`).
"""

from fulfillment.choices import EventSource, EventType
from fulfillment.models import OrderEvent


def _warnings_text(warnings):
    if not warnings:
        return ""
    return f"; {len(warnings)} warning{'s' if len(warnings) > 1 else ''}: " + "; ".join(
        w.get("message", "") for w in warnings[:3]) + ("; …" if len(warnings) > 3 else "")


def project_linked(project, *, order, line, render):
    return OrderEvent(order=order, type=EventType.PROJECT_LINKED, source=EventSource.SYSTEM,
                      message=f"{line.name}: project {project.ref} ({project.title or project.template.name}); "
                              f"production file being rendered (v{render.version})",
                      data={"project_id": project.pk, "ref": project.ref, "line": line.woo_line_id,
                            "render_id": render.pk, "version": render.version})


def rendered(render, *, order):
    return OrderEvent(order=order, type=EventType.PROJECT_RENDERED, source=EventSource.SYSTEM,
                      message=f"Project {render.project.ref} v{render.version}: {len(render.previews)} "
                              f"page{'' if len(render.previews) == 1 else 's'}"
                              + _warnings_text(render.warnings),
                      data={"project_id": render.project_id, "render_id": render.pk, "version": render.version,
                            "checksum": render.checksum, "warnings": len(render.warnings)})


def render_failed(render, *, order):
    return OrderEvent(order=order, type=EventType.RENDER_FAILED, source=EventSource.SYSTEM,
                      message=f"Project {render.project.ref} v{render.version}: {render.error}",
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
