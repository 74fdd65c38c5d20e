"""django-q2 entry points of the projects app: take ids, call a service. Each is safe to run twice."""

from fulfillment.task_queue import enqueue
from projects.services.housekeeping import renders_prune
from projects.services.rendering import renders_stalled
from projects.services.reprocess import render_and_continue, render_page_and_continue


def render_project(render_id):
    render = render_and_continue(render_id)
    return f"{render.project.ref} v{render.version}: {render.state} {render.error}".strip()


def render_page(render_id, index):
    """One page of a big book; the last page in assembles the print PDF."""
    render = render_page_and_continue(render_id, index)
    return f"{render.project.ref} v{render.version} page {index + 1}: {render.state} {render.error}".strip()


def rerun_stalled_renders():
    """Every 10 minutes: renders whose task was lost or whose worker died are rendered again."""
    ids = renders_stalled()
    for render_id in ids:
        enqueue("projects.tasks.render_project", render_id)
    return f"{len(ids)} renders queued again"


def prune_renders():
    """Daily: render versions superseded more than RENDERS_KEEP_DAYS ago are deleted (an order's are kept)."""
    renders, files = renders_prune()
    return f"{renders} superseded renders deleted ({files} files)"
