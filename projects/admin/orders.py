"""The order page and list, with personalisation: each line's project, and *Reprocess* (one order or in bulk).

fulfillment's OrderAdmin knows nothing of projects; this subclass takes its place in the admin site (the
projects app comes after fulfillment in INSTALLED_APPS, so its admin module is loaded after fulfillment's). It
fills the order page's `personalisation` and `extra_actions` blocks by extending its template.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _, gettext_lazy, ngettext

from fulfillment.admin.orders import OrderAdmin
from fulfillment.models import Order
from projects import selectors
from projects.choices import ReprocessState
from projects.errors import ProjectError
from projects.models import Reprocess
from projects.services.reprocess import order_reprocess, orders_bulk_reprocess

REPROCESS_PERMISSION = "projects.reprocess_project"


class OrderWithProjectsAdmin(OrderAdmin):
    actions = [*OrderAdmin.actions, "bulk_reprocess"]

    def get_urls(self):
        return [
            path("<int:pk>/reprocess/", self.admin_site.admin_view(self.reprocess_view),
                 name="projects_order_reprocess"),
        ] + super().get_urls()

    def render_order_page(self, request, order, *, failed_action=None, errors=None, status=200):
        response = super().render_order_page(request, order, failed_action=failed_action, errors=errors,
                                             status=status)
        personalisation = selectors.order_personalisation(order)
        for row in response.context_data["lines"]:
            row["personalisation"] = personalisation.get(row["line"].pk)
        response.context_data.update({
            "personalised": bool(personalisation),
            "can_view_projects": request.user.has_perm("projects.view_project"),
            "can_reprocess": request.user.has_perm(REPROCESS_PERMISSION),
            "reprocess_running": Reprocess.objects.filter(order_id=order.pk, state=ReprocessState.RENDERING)
            .select_related("requested_by").first(),
        })
        response.template_name = "admin/projects/order_page.html"
        return response

    def reprocess_view(self, request, pk):
        if not request.user.has_perm(REPROCESS_PERMISSION):
            raise PermissionDenied
        if request.method != "POST":
            return redirect(reverse("admin:fulfillment_order_change", args=[pk]))
        order = get_object_or_404(Order.objects.select_related("store"), pk=pk)
        try:
            reprocess = order_reprocess(order=order, reason=request.POST.get("reason", ""), user=request.user)
        except ProjectError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self.render_order_page(request, order, failed_action="reprocess",
                                          errors={"reprocess": exc.message}, status=400)
        versions = ", ".join(f"{r.project.ref} v{r.version}" for r in reprocess.renders.select_related("project"))
        self.message_user(request, _("Reprocess started: rendering %(versions)s. The order goes back to production "
                                     "once they are rendered.") % {"versions": versions}, messages.SUCCESS)
        return redirect(reverse("admin:fulfillment_order_change", args=[pk]))

    # -- bulk --------------------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Reprocess the selected orders (render again, reprint)"),
                  permissions=["reprocess"])
    def bulk_reprocess(self, request, queryset):
        reason = " ".join(request.POST.get("reason", "").split())
        if "apply" in request.POST and reason:
            done, refused = orders_bulk_reprocess(orders=queryset.select_related(None).order_by("pk"),
                                                  reason=reason, user=request.user)
            if done:
                self.message_user(request, ngettext(
                    "%(n)d order is being rendered again: %(orders)s", "%(n)d orders are being rendered again: "
                    "%(orders)s", len(done)) % {"n": len(done), "orders": ", ".join(f"#{n}" for n in done)},
                    messages.SUCCESS)
            if refused:
                self.message_user(request, _("Not reprocessed: %(orders)s") % {
                    "orders": "; ".join(f"#{n} ({why})" for n, why in refused)}, messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "orders": queryset.select_related(None).only("pk", "number")[:500], "count": queryset.count(),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "title": _("Reprocess orders"),
            "select_across": request.POST.get("select_across", "0"),
            "reason_error": _("Say why the orders are reprocessed.") if "apply" in request.POST else "",
        }
        return TemplateResponse(request, "admin/projects/bulk_reprocess.html", context,
                                status=400 if "apply" in request.POST else 200)

    def has_reprocess_permission(self, request):
        return request.user.has_perm(REPROCESS_PERMISSION)


admin.site.unregister(Order)
admin.site.register(Order, OrderWithProjectsAdmin)
