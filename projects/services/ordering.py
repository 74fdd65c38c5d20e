"""Orders arriving from WooCommerce whose lines carry one of our project ids (`_project_id` in the line's meta)."""

import logging

from django.db import transaction

from fulfillment.models import OrderLine, Store
from projects import events, order_events
from projects.choices import ProjectState, RenderPurpose
from projects.models import Project
from projects.services.rendering import render_request

logger = logging.getLogger("projects.ordering")


def projects_follow_orders(changes):
    """The order follower (fulfillment.followers): lines of orders arrived or updated that name one of our projects."""
    refs_of = {}
    for store_id, ref in (OrderLine.objects.filter(order_id__in=changes.order_ids()).exclude(project_ref="")
                          .values_list("order__store_id", "project_ref")):
        refs_of.setdefault(store_id, set()).add(ref)
    for store_id, refs in sorted(refs_of.items()):
        projects_link_order_lines(store=Store(pk=store_id), refs=refs)


def projects_link_order_lines(*, store, refs):
    """Link each project named by an arriving order line to it, mark it ordered, and queue its production render.

    Called (by projects_follow_orders) inside the transaction of the orders' change, with the project refs of their
    lines. A project
    already linked to its line is left alone (the same order arriving again), so this is cheap to repeat.
    """
    refs = {ref for ref in refs if ref}
    if not refs:
        return []
    # No savepoint: inside the mirror's transaction it would cost two statements per batch of orders for nothing.
    with transaction.atomic(savepoint=False):
        projects = list(Project.objects.select_for_update(of=("self",)).filter(store=store, ref__in=refs)
                        .select_related("order_line", "template").order_by("pk"))
        if not projects:
            return []
        lines = {}
        # The oldest line wins when the same project id is in several lines (a copied cart line).
        for line in (OrderLine.objects.filter(order__store=store, project_ref__in=[p.ref for p in projects])
                     .select_related("order").order_by("pk")):
            lines.setdefault(line.project_ref, line)
        linked = []
        for project in projects:
            line = lines.get(project.ref)
            if line is None or project.order_line_id == line.pk:
                continue
            if project.order_line_id is not None:
                logger.warning("project %s is in order line %s too; it stays with line %s", project.ref, line.pk,
                               project.order_line_id)
                continue
            project.order_line, project.state = line, ProjectState.ORDERED
            project.save(update_fields=["order_line", "state", "updated_at"])
            events.ordered_event(project, order=line.order).save()
            render = render_request(project=project, purpose=RenderPurpose.PRODUCTION,
                                    reason=f"order #{line.order.number}")
            order_events.project_linked(project, order=line.order, line=line, render=render).save()
            linked.append(project)
    return linked
