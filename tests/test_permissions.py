"""Who may do what: docs/permissions.md's tables, cell for cell, against the running app.

The document is the test's data: its tables are parsed here, so the two cannot disagree. A URL pattern of the
URLconf or an admin action that the document does not list fails the test, as does a listed one that is gone.
Then every customer is tried against another customer's projects, files and invoices (My Account and the editor
API): each is a 404, never the object.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.projects.test_customer_pages import customer_urls

MATRIX = Path(settings.BASE_DIR) / "docs" / "permissions.md"
ROLES = ["anonymous", "customer", "support", "operations", "finance", "superuser"]
VERDICTS = {"yes", "no", "own"}


# -- the document ----------------------------------------------------------------------------------------------

def tables(text=None):
    """Every markdown table of the document whose header names the roles: {first header cell: [row dicts]}."""
    text = MATRIX.read_text() if text is None else text
    found, header, rows = {}, None, None
    for line in text.splitlines() + [""]:
        cells = ([cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
                 if line.startswith("|") else None)
        if cells is None:
            if header is not None:
                found[header[0]] = rows
            header = rows = None
        elif header is None:
            header, rows = cells, []
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(header, cells, strict=True)))
    return {name: rows for name, rows in found.items() if set(ROLES) <= set(rows[0]) if rows}


def code(cell):
    """`/admin/…` → admin/… (the document writes patterns and names as code, a URL pattern from the root)."""
    return cell.strip().strip("`").removeprefix("/")


def orm_broker_only(name):
    """django-q2 registers its queue (OrmQ) in the admin only with the ORM broker, not with Redis (CI's second
    pass): its rows hold where it is registered."""
    from django_q.models import OrmQ

    return (name.startswith("admin/django_q/ormq/") or name.startswith("django_q.OrmQ.")) \
        and not admin.site.is_registered(OrmQ)


def url_rows():
    return [row for row in tables()["URL pattern"] if not orm_broker_only(code(row["URL pattern"]))]


def action_rows():
    return [row for row in tables()["Admin action"] if not orm_broker_only(code(row["Admin action"]))]


def test_the_matrix_lists_every_url_pattern_and_admin_action_and_only_those(db):
    rows = url_rows()
    assert rows and action_rows(), "docs/permissions.md has lost its tables"
    for row in rows + action_rows():
        assert {row[role] for role in ROLES} <= VERDICTS, row
    listed = {code(row["URL pattern"]) for row in rows}
    patterns = set(url_patterns())
    assert patterns - listed == set(), "URL patterns docs/permissions.md does not list"
    assert listed - patterns == set(), "docs/permissions.md lists URL patterns the URLconf no longer has"

    superuser = make_user("matrix-root", superuser=True)
    offered = set()
    for model, model_admin in admin.site._registry.items():
        request = request_for(superuser, model)
        offered |= {f"{model._meta.label}.{name}" for name in model_admin.get_actions(request)}
    documented = {code(row["Admin action"]) for row in action_rows()}
    assert offered - documented == set(), "admin actions docs/permissions.md does not list"
    assert documented - offered == set(), "docs/permissions.md lists admin actions that are gone"


def url_patterns():
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return list(walk(get_resolver().url_patterns))


def request_for(user, model):
    from django.test import RequestFactory

    request = RequestFactory().get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    request.user = user
    return request


def make_user(username, *, role=None, superuser=False):
    from tests.factories import UserFactory

    user = UserFactory(username=username, is_superuser=superuser)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


# -- the world every cell is tried in --------------------------------------------------------------------------

@pytest.fixture
def world(db, settings, tmp_path, django_capture_on_commit_callbacks):
    """One shop with an invoice rule; two customers, each with an invoiced order, a project with an image and a
    preview; one object of every model the admin lists; a user per role."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django_q.models import OrmQ, Schedule, Task

    from accounting.models import AccountingExport, ExportRule, Invoice, InvoiceRule, InvoiceSeries
    from fulfillment.models import (FollowerRetry, ImportRun, Reservation, StorePush, Submission, Supplier,
                                    SupplierProduct, WebhookDelivery)
    from projects.choices import RenderPurpose, RenderState
    from projects.models import Render
    from projects.services.api_keys import editor_key_create
    from projects.services.assets import asset_upload
    from tests.accounting.test_invoice_pages import shop_order
    from tests.factories import ProviderFactory, StoreFactory
    from tests.projects.conftest import jpeg, photo_upload
    from tests.projects.factories import CustomerFactory, ProductTemplateFactory, ProjectFactory

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ACCOUNTING_EXPORT_DIR = tmp_path / "exports"
    now = timezone.now()
    store = StoreFactory(slug="inv", name="Fotocadeau NL", currency="EUR", timezone="Europe/Amsterdam")
    series = InvoiceSeries.objects.create(store=store, name="Invoices", prefix="{year}-")
    credit_notes = InvoiceSeries.objects.create(store=store, name="Credit notes", prefix="CN{year}-")
    rule = InvoiceRule.objects.create(
        store=store, invoice_series=series, credit_note_series=credit_notes, seller_name="Fotocadeau B.V.",
        seller_street="Keizersgracht 123", seller_postcode="1015 CJ", seller_city="Amsterdam", seller_country="NL",
        seller_vat_id="NL854091798B01", seller_email="finance@fotocadeau.example")
    export_rule = ExportRule.objects.create(store=store, statuses=["completed"])
    template = ProductTemplateFactory(store=store)

    w = {"store": store}
    for key, woo_id, order_id in (("a", 501, 901), ("b", 502, 902)):
        customer = CustomerFactory(username=f"customer-{key}@example.com", profile__store=store,
                                   profile__woo_id=woo_id)
        order = shop_order(store, order_id, django_capture_on_commit_callbacks, customer_id=woo_id)
        invoice = Invoice.objects.get(order=order)
        project = ProjectFactory(template=template, owner=customer, title=f"Project {key}")
        asset = asset_upload(project=project, uploaded_file=photo_upload(), user=customer)
        preview = default_storage.save(f"renders/{project.ref}-p1.jpg", ContentFile(jpeg()))
        mockup = default_storage.save(f"renders/{project.ref}-mockup.jpg", ContentFile(jpeg()))
        render = Render.objects.create(project=project, version=1, purpose=RenderPurpose.PREVIEW,
                                       state=RenderState.DONE, previews=[preview], mockup=mockup)
        w[key] = {"customer": customer, "order": order, "invoice": invoice, "project": project, "asset": asset,
                  "render": render, "woo_id": woo_id,
                  "spare": ProjectFactory(template=template, owner=customer, title=f"Spare {key}")}

    order = w["a"]["order"]
    provider = ProviderFactory(store=store)
    supplier = Supplier.objects.create(store=store, name="Rewix", base_url="http://127.0.0.1:9", api_user="u",
                                       credentials_env="REWIX_TEST_PASSWORD")
    task = {"name": "t", "func": "math.floor", "started": now, "stopped": now}
    objects = {
        "auth.Group": Group.objects.get(name="support"),
        "auth.User": w["a"]["customer"],
        "django_q.Schedule": Schedule.objects.create(func="math.floor", name="matrix"),
        "django_q.Success": Task.objects.create(id="s" * 32, success=True, **task),
        "django_q.Failure": Task.objects.create(id="f" * 32, success=False, **task),
        "django_q.OrmQ": OrmQ.objects.create(key="matrix", payload="x"),
        "fulfillment.Order": order,
        "fulfillment.Provider": provider,
        "fulfillment.Submission": Submission.objects.create(order=order, provider=provider, external_id="x1"),
        "fulfillment.Supplier": supplier,
        "fulfillment.SupplierProduct": SupplierProduct.objects.create(supplier=supplier, stock_id="s1"),
        "fulfillment.Reservation": Reservation.objects.create(order=order, supplier=supplier, stock_id="s1"),
        "fulfillment.Store": store,
        "fulfillment.WebhookDelivery": WebhookDelivery.objects.create(store=store, body_sha256="0" * 64),
        "fulfillment.ImportRun": ImportRun.objects.create(store=store, mode="all"),
        "fulfillment.StorePush": StorePush.objects.create(store=store, order=order, kind="note",
                                                          next_attempt_at=now),
        "fulfillment.FollowerRetry": FollowerRetry.objects.create(follower="projects", source="webhook",
                                                                  next_attempt_at=now),
        "projects.Project": w["a"]["project"],
        "projects.ProductTemplate": template,
        "accounting.ExportRule": export_rule,
        "accounting.AccountingExport": AccountingExport.objects.get_or_create(order=order, store=store)[0],
        "accounting.InvoiceSeries": series,
        "accounting.InvoiceRule": rule,
        "accounting.Invoice": w["a"]["invoice"],
    }
    missing = {model._meta.label for model in admin.site._registry} - set(objects)
    assert not missing, f"the permissions test needs an object of {missing}"
    w["objects"] = objects
    w["editor_key"] = editor_key_create(store=store, name="matrix")[1]
    w["users"] = {"anonymous": None, "customer": w["a"]["customer"],
                  "support": make_user("support", role="support"),
                  "operations": make_user("operations", role="operations"),
                  "finance": make_user("finance", role="finance"),
                  "superuser": make_user("root", superuser=True)}
    return w


def model_of(route):
    match = re.match(r"admin/(\w+)/(\w+)/", route)
    if not match:
        return None
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == match.groups():
            return model._meta.label
    return None


def fill(route, world, args):
    """The route with a value for each of its parameters: the customer "a"'s objects, the model's object, or what
    the row's Args cell says."""
    a = world["a"]
    label = model_of(route)
    obj = world["objects"].get(label)
    project = a["project"]
    values = {
        "object_id": obj.pk if obj is not None else None,
        "pk": obj.pk if obj is not None else a["invoice"].pk,
        "id": world["objects"]["auth.User"].pk,
        "ref": project.ref, "render_id": a["render"].pk, "asset_id": a["asset"].pk,
        "page": 1 if route.startswith("admin/") else 0,
        "kind": "mockup", "variant": "image", "slug": world["store"].slug,
        "provider_id": world["objects"]["fulfillment.Provider"].pk,
        "token": "not-a-token",
        "uidb64": "MQ", "content_type_id": ContentType.objects.get_for_model(project).pk,
        "app_label": "fulfillment", "url": "nowhere/",
    }
    if route.startswith("api/editor/v1/files/"):
        values["token"] = signing.dumps(a["asset"].image.name, salt="projects.editor-file")
    if route.startswith("admin/r/"):
        values["object_id"] = project.pk
    for pair in filter(None, (part.strip() for part in args.split(","))):
        name, _, value = pair.partition("=")
        values[name] = a[value].ref if value in ("spare",) else value
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), path)
    return "/" + path.replace("^", "").replace("$", "")


def verdict(response):
    """What a role got: "no" when refused (401, 403, 404, or sent to a login page to come back: `?next=`), "yes"
    when the view served it (a page, a file, a redirect of its own, its own refusal of empty input, or a 502 that
    says the shop behind it did not answer)."""
    status = response.status_code
    if status in (301, 302):
        return "no" if "/login/" in response["Location"] and "next=" in response["Location"] else "yes"
    if status in (401, 403, 404):
        return "no"
    if status >= 500 and status != 502:
        return f"error {status}"
    return "yes"


def offered_actions(response):
    """The actions a changelist offers its viewer (Django refuses a posted action not among them)."""
    form = response.context.get("action_form") if response.status_code == 200 and response.context else None
    return dict(form.fields["action"].choices) if form is not None else {}


def clients(world):
    made = {}
    for role, user in world["users"].items():
        client = Client()
        if user is not None:
            client.force_login(user)
        made[role] = client
    return made


def test_every_cell_of_the_matrix(world):
    mismatches, logged_in = [], clients(world)
    for row in url_rows():
        route, method, args = code(row["URL pattern"]), row["Method"], code(row.get("Args", ""))
        for role in ROLES:
            path = fill(route, world, args)
            response = getattr(logged_in[role], method.lower())(path)
            if world["users"][role] is not None and "_auth_user_id" not in logged_in[role].session:
                logged_in[role].force_login(world["users"][role])  # a logout row logged it out
            got, wanted = verdict(response), "yes" if row[role] == "own" else row[role]
            if got != wanted:
                mismatches.append(f"{method} {path} as {role}: {response.status_code}, the matrix says {row[role]}")

    offered = {}  # (model, role) → the actions its changelist offers that role
    for row in action_rows():
        label, _, name = code(row["Admin action"]).rpartition(".")
        model = next(m for m in admin.site._registry if m._meta.label == label)
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for role in ROLES:
            if (label, role) not in offered:
                offered[label, role] = offered_actions(logged_in[role].get(url))
            got = "yes" if name in offered[label, role] else "no"
            if got != row[role]:
                mismatches.append(f"action {label}.{name} as {role}: {got}, the matrix says {row[role]}")
    assert mismatches == []


# -- customers against each other -----------------------------------------------------------------------------

def test_no_customer_reaches_another_customers_projects_files_or_invoices(world):
    from projects.models import Project, Render

    pages_before = {p.pk: (p.title, p.state, p.pages) for p in Project.objects.all()}
    for me, other in (("a", "b"), ("b", "a")):
        client = Client()
        client.force_login(world[me]["customer"])
        theirs = world[other]
        ref, render, asset = theirs["project"].ref, theirs["render"].pk, theirs["asset"].pk
        invoice = theirs["invoice"].pk
        urls = customer_urls(theirs["project"], theirs["asset"], theirs["render"]) + [
            # one's own project with another's image or render
            ("get", reverse("account:asset_file", args=[world[me]["project"].ref, asset])),
            ("get", reverse("account:render_page", args=[world[me]["project"].ref, render, 0])),
            ("get", reverse("accounting:invoice_pdf", args=[invoice])),
            ("get", reverse("accounting:invoice_ubl", args=[invoice])),
        ]
        for method, url in urls:
            response = getattr(client, method)(url, {"title": "x", "slot-0-caption": "x"} if method == "post" else {})
            assert response.status_code == 404, (me, method, url, response.status_code)
        listing = client.get(reverse("accounting:invoices")).content.decode()
        assert theirs["invoice"].number not in listing and world[me]["invoice"].number in listing
        projects = client.get(reverse("account:projects")).content.decode()
        assert theirs["project"].title not in projects and world[me]["project"].title in projects

        # The editor API, with the shop's key and this customer's id: another's project is a 404.
        api = Client(headers={"Authorization": f"Bearer {world['editor_key']}"})
        mine = {"customer_id": world[me]["woo_id"]}
        for method, url, data in [
            ("get", reverse("editor_api:project", args=[ref]), mine),
            ("get", reverse("editor_api:render", args=[ref, render]), mine),
            ("post", reverse("editor_api:pages", args=[ref]), {**mine, "pages": []}),
            ("post", reverse("editor_api:renders", args=[ref]), mine),
            ("post", reverse("editor_api:assets", args=[ref]), mine),
        ]:
            if method == "get":
                response = api.get(url, data)
            else:
                response = api.post(url, data, content_type="application/json")
            assert response.status_code == 404, (me, method, url, response.status_code)
        own = api.get(reverse("editor_api:project", args=[world[me]["project"].ref]), mine)
        assert own.status_code == 200 and own.json()["id"] == world[me]["project"].ref

    assert {p.pk: (p.title, p.state, p.pages) for p in Project.objects.all()} == pages_before
    assert Render.objects.count() == 2


def test_staff_who_may_only_look_at_a_store_never_see_its_keys(client, db):
    """Support, operations and finance may view a store: its page shows neither its WooCommerce keys nor its
    webhook secret (read-only fields would show them as text); who may change it gets the write-only fields."""
    from tests.factories import StoreFactory

    store = StoreFactory(consumer_key="ck_visible_nowhere", consumer_secret="cs_visible_nowhere",
                         webhook_secret="whsec_visible_nowhere")
    url = reverse("admin:fulfillment_store_change", args=[store.pk])
    for role in ("support", "operations", "finance"):
        client.force_login(make_user(role, role=role))
        html = client.get(url).content.decode()
        assert store.name in html and "visible_nowhere" not in html, role
    client.force_login(make_user("root", superuser=True))
    html = client.get(url).content.decode()
    assert 'name="consumer_secret"' in html and "visible_nowhere" not in html
