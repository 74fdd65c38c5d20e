from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from accounting.choices import ExportState
from accounting.models import AccountingExport, ExportRule
from fulfillment.models import OrderEvent
from tests.factories import OrderFactory, StoreFactory, UserFactory

LIST = reverse("admin:accounting_accountingexport_changelist")


def staff(role=None, username=None):
    user = UserFactory(username=username or role or "nobody")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def export_of(store, woo_id, state=ExportState.OPEN, **kwargs):
    order = OrderFactory(store=store, woo_id=woo_id, status=kwargs.pop("status", "processing"),
                         trashed=kwargs.pop("trashed", False))
    return AccountingExport.objects.create(order=order, store=store, state=state, **kwargs)


def post_action(client, exports):
    return client.post(LIST, {"action": "export_now", "_selected_action": [e.pk for e in exports], "index": "0",
                              "select_across": "0"})


# -- the list ------------------------------------------------------------------------------------------------------

def test_finance_sees_the_list_with_order_links_states_and_errors(client, shop):
    failed = export_of(shop, 1, ExportState.FAILED, error="The export directory /mnt/boekhouding does not exist",
                       attempts=2)
    export_of(shop, 2)
    client.force_login(staff("finance"))

    response = client.get(LIST + f"?store__id__exact={shop.pk}&state__exact=failed")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<a href="{reverse("admin:fulfillment_order_change", args=[failed.order_id])}">#1</a>' in html
    assert "The export directory /mnt/boekhouding does not exist" in html
    assert ">Failed</span>" in html
    assert ">#2</a>" not in html


def test_the_list_costs_the_same_queries_for_3_or_60_rows(client, shop, django_assert_max_num_queries):
    stores = [shop, StoreFactory(slug="it"), StoreFactory(slug="fr")]
    client.force_login(staff("finance"))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    for n, store in enumerate(stores):
        export_of(store, 100 + n, ExportState.FAILED, error="disk full", attempts=1)
    with django_assert_max_num_queries(8):  # session, user, language, permissions (2), stores, count, rows
        client.get(LIST)
    few = queries()  # the store filter's choices are cached from here on
    for n in range(57):
        export_of(stores[n % 3], 200 + n, ExportState.EXPORTED if n % 2 else ExportState.OPEN,
                  reference=f"x-{n}.json")
    many = queries()

    assert few == many
    with django_assert_max_num_queries(7):
        client.get(LIST + "?q=201&state__exact=open")


def test_the_list_finds_an_order_by_number(client, shop):
    export_of(shop, 4711)
    export_of(shop, 4712)
    client.force_login(staff("finance"))

    response = client.get(LIST + "?q=4711")

    assertContains(response, ">#4711</a>")
    assertNotContains(response, ">#4712</a>")


# -- the action ----------------------------------------------------------------------------------------------------

def test_finance_exports_now_and_retries(client, shop, export_dir):
    due = export_of(shop, 1, status="completed")
    failed = export_of(shop, 2, ExportState.FAILED, status="completed", error="disk full", attempts=5)
    waiting = export_of(shop, 3, status="processing")
    user = staff("finance")
    client.force_login(user)

    response = post_action(client, [due, failed, waiting])

    assert response.status_code == 302
    states = dict(AccountingExport.objects.values_list("order__woo_id", "state"))
    assert states == {1: ExportState.EXPORTED, 2: ExportState.EXPORTED, 3: ExportState.OPEN}
    assert sorted(p.name for p in (export_dir / "nl").iterdir()) == ["nl-1.json", "nl-2.json"]
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "2 orders exported.", "#3 not exported: status Processing is not one that exports"]
    assert OrderEvent.objects.filter(order_id=due.order_id, user=user).count() == 1


def test_a_failed_export_now_shows_its_reason(client, shop, tmp_path):
    ExportRule.objects.filter(store=shop).update(directory=str(tmp_path / "missing"))
    export = export_of(shop, 1, status="completed")
    client.force_login(staff("finance"))

    response = post_action(client, [export])

    export.refresh_from_db()
    assert export.state == ExportState.FAILED
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"#1: The export directory {tmp_path / 'missing'} does not exist or is not a directory."]


def test_support_cannot_export(client, shop, export_dir):
    export = export_of(shop, 1, status="completed")
    client.force_login(staff("support"))

    response = post_action(client, [export])

    assert response.status_code == 403
    export.refresh_from_db()
    assert (export.state, export.attempts) == (ExportState.OPEN, 0)
    assert not export_dir.exists()
    assert not OrderEvent.objects.filter(order_id=export.order_id).exists()


def test_staff_who_may_only_look_cannot_export(client, shop, export_dir):
    export = export_of(shop, 1, status="completed")
    user = staff("support", username="reader")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounting",
                                                     codename="view_accountingexport"))
    client.force_login(user)

    assertNotContains(client.get(LIST), "Export now / retry")
    response = post_action(client, [export])

    assert response.status_code == 200  # the list again: "No action selected"
    export.refresh_from_db()
    assert (export.state, export.attempts) == (ExportState.OPEN, 0)
    assert not export_dir.exists()


# -- the rule form -------------------------------------------------------------------------------------------------

def test_finance_changes_a_rule_statuses_as_a_comma_separated_list(client, shop):
    rule = shop.export_rule
    client.force_login(staff("finance"))
    url = reverse("admin:accounting_exportrule_change", args=[rule.pk])
    assertContains(client.get(url), 'value="completed"')

    response = client.post(url, {"store": shop.pk, "enabled": "on", "statuses": " Completed, wc-Invoiced,completed ",
                                 "connector": "file", "directory": ""})

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.statuses == ["completed", "invoiced"]

    response = client.post(url, {"store": shop.pk, "enabled": "on", "statuses": " , ", "connector": "file"})
    assertContains(response, "Choose at least one status.")
    response = client.post(url, {"store": shop.pk, "enabled": "on", "statuses": "completed, on hold",
                                 "connector": "file"})
    assertContains(response, "on hold is not a status slug")
    rule.refresh_from_db()
    assert rule.statuses == ["completed", "invoiced"]


# -- the dashboard -------------------------------------------------------------------------------------------------

def dashboard_section(html, name):
    return html.split(f"<h2>{name}</h2>")[1].split("</section>")[0]


def test_the_dashboard_shows_open_and_failed_exports_per_store(client, shop):
    # Given the shop with open and failed exports (and an exported one, and an open one in the trash),
    # and a store without a rule
    bare = StoreFactory(slug="bare", name="Bare shop")
    for n in range(3):
        export_of(shop, n + 1)
    export_of(shop, 10, ExportState.FAILED, error="disk full", attempts=1)
    export_of(shop, 11, ExportState.EXPORTED)
    export_of(shop, 12, trashed=True)
    OrderFactory(store=bare, woo_id=20)
    cache.clear()
    client.force_login(staff("finance"))

    # When finance open the admin's home page
    html = client.get(reverse("admin:index")).content.decode()

    # Then the shop shows 3 open and 1 failed (styled bad), each linking to its filtered list
    shop_html, bare_html = dashboard_section(html, "Fotocadeau NL"), dashboard_section(html, "Bare shop")
    filtered = f"{LIST}?store__id__exact={shop.pk}"
    assert (f'<a href="{filtered}&amp;state__exact=open&amp;order__trashed__exact=0">\n'
            '        <strong>3</strong> open accounting exports</a>') in shop_html
    assert (f'<a href="{filtered}&amp;state__exact=failed&amp;order__trashed__exact=0" class="bad">\n'
            '        <strong>1</strong> failed accounting exports</a>') in shop_html
    # and the store without a rule shows no accounting figure
    assert "accounting exports" not in bare_html

    # And the link leads to those three
    response = client.get(f"{LIST}?store__id__exact={shop.pk}&state__exact=open&order__trashed__exact=0")
    assert response.status_code == 200
    rows = response.content.decode()
    assert all(f">#{n}</a>" in rows for n in (1, 2, 3)) and ">#12</a>" not in rows and ">#10</a>" not in rows


def test_no_failed_exports_is_not_styled_bad(client, shop):
    export_of(shop, 1)
    cache.clear()
    client.force_login(staff("finance"))

    html = dashboard_section(client.get(reverse("admin:index")).content.decode(), "Fotocadeau NL")

    assert '&amp;order__trashed__exact=0">\n        <strong>0</strong> failed accounting exports' in html
    assert "<strong>1</strong> open accounting exports" in html


def test_staff_without_the_export_permission_do_not_see_the_figure(client, shop):
    export_of(shop, 1)
    cache.clear()
    client.force_login(staff("operations"))

    html = client.get(reverse("admin:index")).content.decode()

    assert "Fotocadeau NL" in html
    assert "accounting exports" not in html


# -- the roles and the schedule ------------------------------------------------------------------------------------

def test_finance_may_look_after_exports_and_rules_and_the_nightly_job_is_scheduled(db):
    from django_q.models import Schedule

    finance = set(Group.objects.get(name="finance").permissions.filter(content_type__app_label="accounting")
                  .values_list("codename", flat=True))
    others = Permission.objects.filter(content_type__app_label="accounting", group__name__in=["support",
                                                                                              "operations"])
    schedule = Schedule.objects.get(name="Export open orders to accounting")

    assert finance == {"view_exportrule", "change_exportrule", "view_accountingexport", "change_accountingexport",
                       "view_invoice", "add_invoice", "change_invoice", "view_invoicerule", "change_invoicerule",
                       "add_invoicerule", "view_invoiceseries", "add_invoiceseries", "change_invoiceseries",
                       "view_invoiceproblem", "view_vatcheck"}
    # Support and operations answer customers' "where is my invoice": they may look at invoices, nothing more
    assert set(others.values_list("codename", flat=True)) == {"view_invoice"}
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == ("accounting.tasks.run_open_exports", "D", -1)
    assert (schedule.next_run.hour, schedule.next_run.minute) == (2, 30)


def test_the_pages_of_a_rule_and_an_export_open(client, shop):
    export = export_of(shop, 1, ExportState.FAILED, error="disk full", attempts=1)
    client.force_login(staff("finance"))

    rules = client.get(reverse("admin:accounting_exportrule_changelist"))
    page = client.get(reverse("admin:accounting_accountingexport_change", args=[export.pk]))

    assertContains(rules, "Fotocadeau NL")
    assertContains(rules, "Completed")
    assertContains(page, "Accounting export of order #1")
    assertContains(page, "disk full")
