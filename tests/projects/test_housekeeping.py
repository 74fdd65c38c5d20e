"""Render versions superseded long ago are deleted on a schedule, rows and files; each project's newest version,
unfinished ones and the production versions of ordered projects are kept whatever their age."""

from datetime import UTC, datetime, timedelta
from io import StringIO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django_q.models import Schedule

from projects.choices import RenderPurpose, RenderState
from projects.models import Render
from projects.services.housekeeping import renders_prune
from projects.tasks import prune_renders
from tests.factories import OrderLineFactory
from tests.projects.factories import ProjectFactory

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def version(project, number, *, days_ago, purpose=RenderPurpose.PREVIEW, state=RenderState.DONE):
    """A finished version with its files in storage, finished `days_ago` days before NOW."""
    folder = f"renders/{project.ref}/v{number}"
    files = {}
    if state == RenderState.DONE:
        files["previews"] = [default_storage.save(f"{folder}/page-1.jpg", ContentFile(b"jpeg"))]
        files["mockup"] = default_storage.save(f"{folder}/mockup.jpg", ContentFile(b"jpeg"))
        if purpose == RenderPurpose.PRODUCTION:
            files["production_file"] = default_storage.save(f"{folder}/print.pdf", ContentFile(b"%PDF"))
    return Render.objects.create(project=project, version=number, purpose=purpose, state=state,
                                 finished_at=NOW - timedelta(days=days_ago), **files)


def files_of(render):
    return [*render.previews, render.mockup.name, render.production_file.name]


def kept(project):
    return list(Render.objects.filter(project=project).order_by("version").values_list("version", flat=True))


def test_versions_superseded_long_ago_go_with_their_files_and_the_rest_stay(template):
    # Given a saved project edited over months (its newest version failed), and an ordered project reprinted
    saved = ProjectFactory(template=template, title="Saved")
    v1 = version(saved, 1, days_ago=200)  # replaced by v2 150 days ago: goes
    v2 = version(saved, 2, days_ago=150)  # replaced by v3 only 10 days ago: stays
    version(saved, 3, days_ago=10)  # the newest finished one: stays
    version(saved, 4, days_ago=5, state=RenderState.FAILED)  # failed, replaced by nothing: stays
    version(saved, 5, days_ago=0, state=RenderState.RENDERING)  # a worker is on it
    ordered = ProjectFactory(template=template, title="Ordered", order_line=OrderLineFactory())
    preview = version(ordered, 1, days_ago=300)  # the customer's preview before ordering: goes
    version(ordered, 2, days_ago=250, purpose=RenderPurpose.PRODUCTION)  # the order's files: stay
    version(ordered, 3, days_ago=200, purpose=RenderPurpose.PRODUCTION)  # the reprint's: stay
    gone = files_of(v1) + files_of(preview)

    # When the renders are pruned, keeping 90 days
    assert renders_prune(now=NOW, keep_days=90, chunk=1) == (2, 4)

    # Then only the superseded ones are gone, files and all
    assert kept(saved) == [2, 3, 4, 5]
    assert kept(ordered) == [2, 3]
    assert [name for name in gone if name and default_storage.exists(name)] == []
    assert all(default_storage.exists(name) for name in files_of(v2) if name)

    # And a second run finds nothing more
    assert renders_prune(now=NOW, keep_days=90) == (0, 0)


def test_a_dry_run_counts_and_deletes_nothing(template):
    project = ProjectFactory(template=template)
    old = version(project, 1, days_ago=400)
    version(project, 2, days_ago=300)

    assert renders_prune(now=NOW, keep_days=90, dry_run=True) == (1, 2)

    assert kept(project) == [1, 2]
    assert all(default_storage.exists(name) for name in files_of(old) if name)


def test_the_command_takes_the_days_and_a_dry_run_and_the_task_the_setting(template, settings):
    project = ProjectFactory(template=template)
    version(project, 1, days_ago=40)
    version(project, 2, days_ago=35)  # replaced 35 days before NOW; more than that before today

    out = StringIO()
    call_command("prune_renders", "--days", "100000", "--dry-run", stdout=out)
    assert out.getvalue() == "0 superseded renders would be deleted (0 files).\n"
    call_command("prune_renders", "--days", "30", "--dry-run", stdout=out)
    assert out.getvalue().endswith("1 superseded renders would be deleted (2 files).\n")
    assert kept(project) == [1, 2]

    settings.RENDERS_KEEP_DAYS = 30
    assert prune_renders() == "1 superseded renders deleted (2 files)"
    assert kept(project) == [2]


def test_the_daily_schedule_exists(db):
    schedule = Schedule.objects.get(name="Delete render versions superseded long ago")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == ("projects.tasks.prune_renders",
                                                                         Schedule.DAILY, -1)
