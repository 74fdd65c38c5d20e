"""The order page's personalisation: each line's project, and *Reprocess* (one order, or in bulk from the list).

A panel of fulfillment's order page (fulfillment.extensions), registered in ProjectsConfig.ready(): fulfillment's
OrderAdmin knows nothing of projects, and is not replaced.
"""

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _, gettext_lazy, ngettext

from fulfillment.extensions import BulkAction, OrderPagePanel
from fulfillment.models import Order
from projects import selectors
from projects.choices import ReprocessState
from projects.errors import ProjectError
from projects.models import Reprocess
from projects.services.reprocess import order_reprocess, orders_bulk_reprocess

REPROCESS_PERMISSION = "projects.reprocess_project"


class PersonalisationPanel(OrderPagePanel):
    name = "personalisation"
    position = 10
    template = "admin/projects/order_page_actions.html"
    line_template = "admin/projects/order_page_line.html"
    stylesheets = ("projects/staff.css",)

    def urls(self, model_admin):
        def reprocess(request, pk):
            return reprocess_view(model_admin, request, pk)

        return [path("<int:pk>/reprocess/", model_admin.admin_site.admin_view(reprocess),
                     name="projects_order_reprocess")]

    def context(self, request, order, page):
        personalisation = selectors.order_personalisation(order)
        for row in page["lines"]:
            row["personalisation"] = personalisation.get(row["line"].pk)
        return {
            "personalised": bool(personalisation),
            "can_view_projects": request.user.has_perm("projects.view_project"),
            "can_reprocess": request.user.has_perm(REPROCESS_PERMISSION),
            "reprocess_running": Reprocess.objects.filter(order_id=order.pk, state=ReprocessState.RENDERING)
            .select_related("requested_by").first(),
        }

    def bulk_actions(self):
        return [BulkAction(name="bulk_reprocess",
                           description=gettext_lazy("Reprocess the selected orders (render again, reprint)"),
                           run=bulk_reprocess, allowed=lambda request: request.user.has_perm(REPROCESS_PERMISSION))]


def reprocess_view(model_admin, request, pk):
    if not request.user.has_perm(REPROCESS_PERMISSION):
        raise PermissionDenied
    if request.method != "POST":
        return redirect(reverse("admin:fulfillment_order_change", args=[pk]))
    order = get_object_or_404(Order.objects.select_related("store"), pk=pk)
    try:
        reprocess = order_reprocess(order=order, reason=request.POST.get("reason", ""), user=request.user)
    except ProjectError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return model_admin.render_order_page(request, order, failed_action="reprocess",
                                             errors={"reprocess": exc.message}, status=400)
    versions = ", ".join(f"{r.project.ref} v{r.version}" for r in reprocess.renders.select_related("project"))
    model_admin.message_user(request, _("Reprocess started: rendering %(versions)s. The order goes back to production "
                                        "once they are rendered.") % {"versions": versions}, messages.SUCCESS)
    return redirect(reverse("admin:fulfillment_order_change", args=[pk]))


def bulk_reprocess(model_admin, request, queryset):
    reason = " ".join(request.POST.get("reason", "").split())
    if "apply" in request.POST and reason:
        done, refused = orders_bulk_reprocess(orders=queryset.select_related(None).order_by("pk"), reason=reason,
                                              user=request.user)
        if done:
            model_admin.message_user(request, ngettext(
                "%(n)d order is being rendered again: %(orders)s", "%(n)d orders are being rendered again: "
                "%(orders)s", len(done)) % {"n": len(done), "orders": ", ".join(f"#{n}" for n in done)},
                messages.SUCCESS)
        if refused:
            model_admin.message_user(request, _("Not reprocessed: %(orders)s") % {
                "orders": "; ".join(f"#{n} ({why})" for n, why in refused)}, messages.WARNING)
        return None
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.model._meta,
        "orders": queryset.select_related(None).only("pk", "number")[:500], "count": queryset.count(),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "title": _("Reprocess orders"),
        "select_across": request.POST.get("select_across", "0"),
        "reason_error": _("Say why the orders are reprocessed.") if "apply" in request.POST else "",
    }
    return TemplateResponse(request, "admin/projects/bulk_reprocess.html", context,
                            status=400 if "apply" in request.POST else 200)
