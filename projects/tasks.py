"""django-q2 entry points of the projects app: take ids, call a service. Each is safe to run twice."""

from projects.services.rendering import render_execute, renders_stalled


def render_project(render_id):
    render = render_execute(render_id)
    return f"{render.project.ref} v{render.version}: {render.state} {render.error}".strip()


def rerun_stalled_renders():
    """Every 10 minutes: renders whose task was lost or whose worker died are rendered again."""
    from django_q.tasks import async_task

    ids = renders_stalled()
    for render_id in ids:
        async_task("projects.tasks.render_project", render_id)
    return f"{len(ids)} renders queued again"
