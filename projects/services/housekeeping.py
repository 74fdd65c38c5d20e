"""Housekeeping of rendered files: versions superseded long ago are deleted, the versions an order used are kept."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from projects.choices import RenderPurpose, RenderState
from projects.models import Render

logger = logging.getLogger("projects.housekeeping")


def renders_superseded(*, now=None, keep_days=None):
    """Finished renders a newer finished version of their project replaced more than `keep_days` ago.

    Kept whatever their age: a project's newest finished version (the customer's My Account shows it, the next
    edit starts from it), every version not finished (a worker may be on it), and the production versions of an
    ordered project (the files an order was made from, and a reprint's: a complaint months later asks for them).
    """
    now = now or timezone.now()
    keep_days = settings.RENDERS_KEEP_DAYS if keep_days is None else keep_days
    replaced_long_ago = Render.objects.filter(
        project_id=OuterRef("project_id"), version__gt=OuterRef("version"), state=RenderState.DONE,
        finished_at__lt=now - timedelta(days=keep_days))
    return (Render.objects.filter(state__in=(RenderState.DONE, RenderState.FAILED))
            .filter(Exists(replaced_long_ago))
            .exclude(Q(purpose=RenderPurpose.PRODUCTION) & Q(project__order_line__isnull=False)))


def renders_prune(*, now=None, keep_days=None, dry_run=False, chunk=500):
    """Delete superseded renders (rows and files); returns (renders, files) deleted, or that would be."""
    renders = files = 0
    after = 0
    while True:
        batch = list(renders_superseded(now=now, keep_days=keep_days).filter(pk__gt=after).order_by("pk")
                     .values("pk", "previews", "mockup", "production_file")[:chunk])
        if not batch:
            return renders, files
        after = batch[-1]["pk"]
        names = [name for row in batch for name in [*(row["previews"] or []), row["mockup"], row["production_file"]]
                 if name]
        renders, files = renders + len(batch), files + len(names)
        if dry_run:
            continue
        with transaction.atomic():
            # Checked again in the delete: a version ordered or reprinted since it was read is kept.
            renders_superseded(now=now, keep_days=keep_days).filter(pk__in=[row["pk"] for row in batch]).delete()
        # The files after the rows: a file left by a failed delete is only space, a row without its file an error.
        for name in names:
            try:
                default_storage.delete(name)
            except OSError as exc:
                logger.warning("render file %s not deleted: %s", name, exc)
