from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext, pgettext_lazy

from fulfillment.choices import PushState
from fulfillment.models import FollowerRetry, ImportRun, Store, StorePush, WebhookDelivery
from fulfillment.pushes import PushError
from fulfillment.selectors.orders import held_message
from fulfillment.services.imports import ImportRequestError, import_run_resume
from fulfillment.services.outbox import UNSENT as UNSENT_STATES, held_behind
from fulfillment.services.push_dispatch import push_discard, push_retry, retry_permissions


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "store", "topic", "woo_id", "state", "error_short", "repeats")
    list_filter = ("state", "topic", "store")
    search_fields = ("=woo_id", "delivery_id")
    list_select_related = ("store",)
    show_full_result_count = False
    readonly_fields = ("store", "received_at", "topic", "webhook_id", "delivery_id", "woo_id", "state", "error",
                       "applied_at", "repeats", "body_sha256", "body")

    @admin.display(description=_("error"))
    def error_short(self, delivery):
        return delivery.error[:120]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ("queued_at", "store", "mode", "state", "progress", "created", "updated", "unchanged", "failed",
                    "requested_by", "error")
    list_filter = ("state", "mode", "store")
    list_select_related = ("store", "requested_by")
    readonly_fields = [f.name for f in ImportRun._meta.fields]
    actions = ["resume_selected"]

    @admin.action(description=_("Resume the selected failed imports after their last page written"),
                  permissions=["resume"])
    def resume_selected(self, request, queryset):
        resumed = 0
        for run in queryset.order_by("pk"):
            try:
                import_run_resume(run=run)
                resumed += 1
            except ImportRequestError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        if resumed:
            self.message_user(request, ngettext("%d import queued again.", "%d imports queued again.", resumed)
                              % resumed)

    def has_resume_permission(self, request):
        return request.user.has_perm("fulfillment.add_importrun")

    @admin.display(description=_("progress"))
    def progress(self, run):
        total = run.pages_total or 0
        percent = int(100 * run.pages_done / total) if total else (100 if run.state == "done" else 0)
        return format_html(
            '<progress max="100" value="{}"></progress> {} / {} · {}', percent, run.pages_done,
            total or "?", ngettext("%(n)d order", "%(n)d orders", run.orders_seen) % {"n": run.orders_seen},
        )


@admin.register(StorePush)
class StorePushAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "store", "order", "kind", "state_shown", "attempts", "next_attempt_at",
                    "last_error", "created_by")
    list_filter = ("state", "kind", "store")
    list_select_related = ("store", "order", "created_by")
    search_fields = ("=order__woo_id", "=order__number")
    readonly_fields = [f.name for f in StorePush._meta.fields]
    actions = ["retry_selected", "discard_selected"]

    def get_changelist_instance(self, request):
        # The failed push (if any) holding each listed one, from the listed pushes' orders in one query.
        changelist = super().get_changelist_instance(request)
        listed = list(changelist.result_list)
        if any(push.state in UNSENT_STATES for push in listed):
            order_pushes = StorePush.objects.filter(order_id__in={p.order_id for p in listed}).only(
                "pk", "order_id", "kind", "state")
            held = held_behind(order_pushes)
            for push in listed:
                push.held_by = held.get(push.pk)
        return changelist

    def changelist_view(self, request, extra_context=None):
        # Pushes waiting on a refused key look merely pending: say why, above the list.
        warnings = [store.key_refused_warning() for store in Store.objects.exclude(push_auth_error="")]
        return super().changelist_view(request, {**(extra_context or {}), "store_warnings": warnings})

    @admin.display(description=pgettext_lazy("processing state", "state"), ordering="state")
    def state_shown(self, push):
        if push.state == PushState.SUPERSEDED and push.superseded_by_id:
            return _("Superseded by push #%(id)s") % {"id": push.superseded_by_id}
        holder = getattr(push, "held_by", None)
        if holder is not None:
            return held_message(holder)
        return push.get_state_display()

    @admin.action(description=_("Retry the selected failed pushes"), permissions=["retry"])
    def retry_selected(self, request, queryset):
        retried = 0
        for push in queryset.filter(state__in=(PushState.FAILED, PushState.SUPERSEDED)).order_by("pk"):
            try:
                push_retry(push=push, user=request.user)
                retried += 1
            except PushError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, ngettext("%d push queued again.", "%d pushes queued again.", retried) % retried)

    @admin.action(description=_("Discard the selected failed pushes (not to be sent; the pushes they hold go on)"),
                  permissions=["retry"])
    def discard_selected(self, request, queryset):
        discarded = 0
        for push in queryset.filter(state=PushState.FAILED).order_by("pk"):
            try:
                push_discard(push=push, user=request.user)
                discarded += 1
            except PushError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, ngettext("%d push discarded.", "%d pushes discarded.", discarded) % discarded)

    def has_retry_permission(self, request):
        # Each push is checked against the permission of its own kind when it is retried.
        return any(request.user.has_perm(permission) for permission in retry_permissions())


@admin.register(FollowerRetry)
class FollowerRetryAdmin(ReadOnlyAdmin):
    """What followed an order's change and failed, waiting to be run again (fulfillment.followers)."""

    list_display = ("follower", "orders", "error_short", "attempts", "created_at", "next_attempt_at")
    list_filter = ("follower",)
    readonly_fields = ("follower", "source", "user", "changes", "error", "attempts", "created_at", "next_attempt_at")

    @admin.display(description=_("orders"))
    def orders(self, retry):
        return ", ".join(str(change.get("order_id")) for change in retry.changes[:10]) + (
            " …" if len(retry.changes) > 10 else "")

    @admin.display(description=_("error"))
    def error_short(self, retry):
        return format_html('<span title="{}">{}</span>', retry.error, retry.error[:120])
