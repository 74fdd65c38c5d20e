"""Staff pages of projects: the list, changing a project, the order page's personalisation, and reprocess."""

import hashlib
import zipfile
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from fulfillment.choices import EventType, ProviderKind, SubmissionState
from fulfillment.models import OrderEvent, Provider, Submission
from fulfillment.services.submissions import order_submit
from projects.choices import ProjectState, RenderPurpose, RenderState, ReprocessState
from projects.models import ProjectEvent, Render, Reprocess
from projects.services.rendering import render_request
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory, UserFactory
from tests.projects.factories import CustomerFactory, ProductTemplateFactory, ProjectFactory, make_asset

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("admin:projects_project_changelist")
ORDERS_URL = reverse("admin:fulfillment_order_changelist")


def staff(role, username=None):
    user = UserFactory(username=username or role)
    user.groups.add(Group.objects.get(name=role))
    return user


def project_url(project):
    return reverse("admin:projects_project_change", args=[project.pk])


def order_url(order):
    return reverse("admin:fulfillment_order_change", args=[order.pk])


def run(callbacks, function, **kwargs):
    with callbacks(execute=True):
        return function(**kwargs)


@pytest.fixture
def ordered(project, shop, django_capture_on_commit_callbacks):
    """Ana's print, ordered in #3101 and rendered (v1) for print; a second photo uploaded, unused."""
    red = make_asset(project)
    make_asset(project, colour=(30, 90, 200))
    project.pages = [{"slots": {"photo": {"asset": red.pk}, "caption": {"text": "Lisbon 2026"}}}]
    line = OrderLineFactory(order=OrderFactory(store=shop, woo_id=3101, number="3101"), project_ref=project.ref,
                            name="Square print", sku="PRINT-10")
    project.order_line, project.state = line, ProjectState.ORDERED
    project.save()
    run(django_capture_on_commit_callbacks, render_request, project=project, purpose=RenderPurpose.PRODUCTION)
    return project


@pytest.fixture
def print_room(shop, tmp_path):
    return Provider.objects.create(store=shop, name="Print room", kind=ProviderKind.FILE_DROP, skus="*",
                                   folder=str(tmp_path / "drop"))


# -- the list ------------------------------------------------------------------------------------------------

def saved_projects(template, count, **kwargs):
    return [ProjectFactory(template=template, title=f"Draft {n}", **kwargs) for n in range(count)]


def test_the_list_shows_each_project_with_its_order_and_last_render(client, ordered, template,
                                                                    django_capture_on_commit_callbacks):
    draft = ProjectFactory(template=template, title="Unfinished cart")
    failed = ProjectFactory(template=template, title="Broken", owner=CustomerFactory(username="bruno@example.com"))
    Render.objects.create(project=failed, version=1, state=RenderState.FAILED, error="cannot read image")
    client.force_login(staff("support"))

    html = client.get(PROJECTS_URL).content.decode()

    order = ordered.order_line.order
    assert f'<a href="{order_url(order)}">#3101</a>' in html
    assert f"<strong>{ordered.pk}</strong><br><small>{ordered.ref}</small>" in html
    assert "ana@example.com" in html and "bruno@example.com" in html
    assert '<span class="render-done">v1 · Done</span>' in html
    assert '<span class="render-failed">v1 · Failed</span>' in html
    assert html.count('<td class="field-order_column">—</td>') == 2  # the draft and the broken one
    assert '<td class="field-render_column">—</td>' in html  # the draft was never rendered
    assert "Unfinished cart" in html and "Square print 10 × 10" in html
    assert draft.ref in html


def test_the_list_costs_the_same_queries_for_3_or_40_projects(client, template, django_assert_num_queries):
    client.force_login(staff("support"))
    saved_projects(template, 3, owner=CustomerFactory(username="c1@example.com"))
    client.get(PROJECTS_URL)  # sessions and permissions cached like any later page

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(PROJECTS_URL).status_code == 200
    customers = [CustomerFactory(username=f"c{n}@example.com") for n in range(2, 12)]
    for n in range(37):
        project = ProjectFactory(template=template, owner=customers[n % 10])
        Render.objects.create(project=project, version=1, state=RenderState.DONE)
    with django_assert_num_queries(len(few)):
        response = client.get(PROJECTS_URL)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 40


@pytest.mark.parametrize("query, expected", [
    ("state=ordered", ["Holiday print"]),
    ("state=draft", ["Broken", "Unfinished cart"]),
    ("render=failed", ["Broken"]),
    ("render=done", ["Holiday print"]),
    ("render=none", ["Unfinished cart"]),
    ("q=3101", ["Holiday print"]),
    ("q=%233101", ["Holiday print"]),
    ("q=bruno%40example.com", ["Broken"]),
    ("q=unfinished", ["Unfinished cart"]),
])
def test_filters_and_search(client, ordered, template, query, expected):
    ProjectFactory(template=template, title="Unfinished cart")
    broken = ProjectFactory(template=template, title="Broken", owner=CustomerFactory(username="bruno@example.com"))
    Render.objects.create(project=broken, version=1, state=RenderState.FAILED, error="cannot read image")
    client.force_login(staff("support"))

    response = client.get(f"{PROJECTS_URL}?{query}")

    assert sorted(p.title for p in response.context["cl"].result_list) == expected


def test_filters_by_store_template_and_search_by_ref(client, ordered, shop):
    other_store = StoreFactory(slug="other", name="Other shop")
    elsewhere = ProjectFactory(template=ProductTemplateFactory(store=other_store, name="Mug"), title="Mug")
    client.force_login(staff("support"))

    def titles(query):
        return [p.title for p in client.get(f"{PROJECTS_URL}?{query}").context["cl"].result_list]

    assert titles(f"store__id__exact={other_store.pk}") == ["Mug"]
    assert titles(f"template__id__exact={ordered.template_id}") == ["Holiday print"]
    assert titles(f"q={elsewhere.ref}") == ["Mug"]


# -- the project's page: look and change -------------------------------------------------------------------

def test_the_project_page_shows_previews_print_file_images_and_history(client, ordered):
    client.force_login(staff("support"))
    render = ordered.renders.get()
    blue = ordered.assets.order_by("pk").last()

    response = client.get(project_url(ordered))

    html = response.content.decode()
    page_url = reverse("admin:projects_project_render_page", args=[ordered.pk, render.pk, 1])
    pdf_url = reverse("admin:projects_project_render_file", args=[ordered.pk, render.pk, "production"])
    assert f'src="{page_url}"' in html and f'href="{pdf_url}"' in html
    assert reverse("admin:projects_project_asset", args=[ordered.pk, blue.pk, "thumbnail"]) in html
    assert f'name="p0_photo_asset" value="{blue.pk}"' in html
    assert 'name="p0_caption_text"' in html and ">Lisbon 2026</textarea>" in html
    assert "Version 1 rendered (1 page)" in html
    assert f'id="project-order">#3101</a>' in html
    assert client.get(page_url)["Content-Type"] == "image/jpeg"
    pdf = client.get(pdf_url)
    assert pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(b"".join(pdf.streaming_content)).hexdigest() == render.checksum


def test_files_of_another_project_are_not_served_through_this_one(client, ordered, template):
    other = ProjectFactory(template=template)
    client.force_login(staff("support"))
    render = ordered.renders.get()
    asset = ordered.assets.first()

    assert client.get(reverse("admin:projects_project_render_page", args=[other.pk, render.pk, 1])).status_code == 404
    assert client.get(reverse("admin:projects_project_asset", args=[other.pk, asset.pk, "image"])).status_code == 404
    assert client.get(reverse("admin:projects_project_render_page", args=[ordered.pk, render.pk, 2])).status_code == 404


def test_staff_without_the_project_permissions_see_no_project_or_file(client, ordered):
    client.force_login(staff("finance"))
    render = ordered.renders.get()

    assert client.get(project_url(ordered)).status_code == 403
    assert client.get(reverse("admin:projects_project_render_page", args=[ordered.pk, render.pk, 1])).status_code == 403


def edit_post(project, **changes):
    photo = project.pages[0]["slots"]["photo"]
    data = {"p0_photo_asset": str(photo["asset"]), "p0_photo_fx": "0.5", "p0_photo_fy": "0.5",
            "p0_photo_scale": "1", "p0_caption_text": project.pages[0]["slots"]["caption"]["text"]}
    data.update(changes)
    return data


def test_staff_replace_the_photo_move_and_zoom_it_and_change_the_text(client, ordered,
                                                                       django_capture_on_commit_callbacks):
    red, blue = ordered.assets.order_by("pk")
    user = staff("support")
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(project_url(ordered), edit_post(
            ordered, p0_photo_asset=str(blue.pk), p0_photo_fx="0.25", p0_photo_fy="0.6", p0_photo_scale="1.5",
            p0_caption_text="Porto 2026"))

    assert response.status_code == 302
    ordered.refresh_from_db()
    assert ordered.pages == [{"slots": {"photo": {"asset": blue.pk, "focal": [0.25, 0.6], "scale": 1.5},
                                        "caption": {"text": "Porto 2026"}}}]
    event = ProjectEvent.objects.get(project=ordered, type="staff_edited")
    assert event.user == user
    assert event.message == (f"Changed by staff: page 1, caption: “Lisbon 2026” → “Porto 2026”; "
                             f"page 1, photo: image {red.pk} → {blue.pk}; page 1, photo: focal point 0.5, 0.5 → "
                             f"0.25, 0.6; page 1, photo: zoom 1 → 1.5")
    preview = ordered.renders.get(version=2)
    assert (preview.purpose, preview.state, preview.requested_by, preview.reason) == (
        RenderPurpose.PREVIEW, RenderState.DONE, user, "staff edit")
    # the print file stays version 1 until the order is reprocessed
    assert ordered.renders.filter(purpose=RenderPurpose.PRODUCTION).get().version == 1


def test_a_form_without_change_writes_nothing(client, ordered, django_capture_on_commit_callbacks):
    client.force_login(staff("support"))

    response = client.post(project_url(ordered), edit_post(ordered), follow=True)

    assert "Nothing changed." in response.content.decode()
    assert not ProjectEvent.objects.filter(type="staff_edited").exists()
    assert ordered.renders.count() == 1


def test_a_wrong_value_is_refused_with_its_field_and_nothing_changes(client, ordered):
    client.force_login(staff("support"))
    before = ordered.pages

    response = client.post(project_url(ordered), edit_post(ordered, p0_photo_scale="40",
                                                           p0_caption_text="Porto 2026"))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Expected a number from 1.0 to 10.0." in html
    assert '<div class="edit-slot photo errors" data-slot="photo">' in html
    assert ">Porto 2026</textarea>" in html  # what was typed stays in the form
    ordered.refresh_from_db()
    assert ordered.pages == before
    assert not ProjectEvent.objects.filter(type="staff_edited").exists() and ordered.renders.count() == 1


def test_viewing_without_change_permission_cannot_save(client, ordered):
    client.force_login(staff("operations"))

    assert client.get(project_url(ordered)).status_code == 200
    assert client.post(project_url(ordered), edit_post(ordered, p0_caption_text="X")).status_code == 403
    ordered.refresh_from_db()
    assert ordered.pages[0]["slots"]["caption"] == {"text": "Lisbon 2026"}


# -- the order page ------------------------------------------------------------------------------------------

def test_the_order_page_shows_preview_print_file_client_images_and_warnings(client, ordered):
    ordered.warnings = [{"page": 1, "slot": "photo", "code": "low_resolution", "effective_dpi": 96,
                         "minimum_dpi": 150, "message": "page 1, photo: the photo prints at 96 DPI, below 150"}]
    ordered.save()
    client.force_login(staff("support"))
    render = ordered.renders.get()

    html = client.get(order_url(ordered.order_line.order)).content.decode()

    assert f'<div class="personalisation project-box" data-project="{ordered.ref}">' in html
    assert reverse("admin:projects_project_render_page", args=[ordered.pk, render.pk, 1]) in html
    assert reverse("admin:projects_project_render_file", args=[ordered.pk, render.pk, "production"]) in html
    assert "Print file, version 1 (PDF)" in html
    for asset in ordered.assets.all():
        assert reverse("admin:projects_project_asset", args=[ordered.pk, asset.pk, "thumbnail"]) in html
    assert "⚠ page 1, photo: the photo prints at 96 DPI, below 150" in html
    assert 'id="reprocess-form"' in html


def test_the_order_page_says_why_a_failed_render_blocks_submission(client, ordered, print_room):
    Render.objects.create(project=ordered, version=2, purpose=RenderPurpose.PRODUCTION, state=RenderState.FAILED,
                          error="cannot read image photo.jpg")
    user = staff("operations")
    client.force_login(user)

    html = client.get(order_url(ordered.order_line.order)).content.decode()

    assert '<ul class="production-problems"><li>render failed: cannot read image photo.jpg</li></ul>' in html
    assert "Version 2 failed: cannot read image photo.jpg" in html


def test_the_order_page_says_since_when_a_reprocess_runs_in_the_shop_time(client, ordered):
    # Given a reprocess rendering since 09:15 UTC, in a shop in Amsterdam
    order = ordered.order_line.order
    user = staff("operations")
    reprocess = Reprocess.objects.create(order=order, requested_by=user, reason="wrong photo")
    Reprocess.objects.filter(pk=reprocess.pk).update(created_at=datetime(2026, 11, 21, 9, 15, tzinfo=UTC))
    client.force_login(user)

    html = client.get(order_url(order)).content.decode()

    assert "Being reprocessed since 2026-11-21 10:15 CET (operations): wrong photo" in html


def test_finance_sees_no_reprocess_and_cannot_post_one(client, ordered, django_capture_on_commit_callbacks):
    client.force_login(staff("finance"))
    order = ordered.order_line.order

    html = client.get(order_url(order)).content.decode()
    response = client.post(reverse("admin:projects_order_reprocess", args=[order.pk]), {"reason": "typo"})

    assert 'id="reprocess-form"' not in html
    assert response.status_code == 403
    assert not Reprocess.objects.exists() and ordered.renders.count() == 1


def test_the_reprocess_permission_is_given_to_support_and_operations():
    def can(role):
        return Group.objects.get(name=role).permissions.filter(
            content_type__app_label="projects", codename="reprocess_project").exists()

    assert (can("support"), can("operations"), can("finance")) == (True, True, False)


# -- reprocess -----------------------------------------------------------------------------------------------

def submitted(order, callbacks):
    run(callbacks, order_submit, order=order)
    return Submission.objects.get(order=order)


def test_reprocess_renders_a_new_version_and_reprints_the_submitted_order(
        client, ordered, print_room, tmp_path, django_capture_on_commit_callbacks):
    # given an order sent to the print room with version 1, then its caption corrected by support
    order = ordered.order_line.order
    first = submitted(order, django_capture_on_commit_callbacks)
    assert first.state == SubmissionState.SUBMITTED
    support = staff("support", username="sofia")
    client.force_login(support)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(project_url(ordered), edit_post(ordered, p0_caption_text="Lisboa 2026"))

    # when support reprocesses the order
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:projects_order_reprocess", args=[order.pk]),
                               {"reason": "Customer asked for Lisboa"}, follow=True)

    # then version 3 is the print file, and the order went back to production linked to the first submission
    html = response.content.decode()
    assert f"Reprocess started: rendering {ordered.ref} v3." in html
    new = ordered.renders.get(version=3)
    old = ordered.renders.get(version=1)
    assert (new.purpose, new.state, new.requested_by, new.reason) == (
        RenderPurpose.PRODUCTION, RenderState.DONE, support, "Customer asked for Lisboa")
    assert new.checksum != old.checksum
    reprocess = Reprocess.objects.get()
    assert (reprocess.state, reprocess.requested_by, reprocess.order) == (ReprocessState.REPRINTED, support, order)
    first.refresh_from_db()
    reprint = Submission.objects.get(reprint_of=first)
    assert first.state == SubmissionState.REPRINTED
    assert (reprint.state, reprint.reason, reprint.requested_by, reprint.external_id) == (
        SubmissionState.SUBMITTED, "Customer asked for Lisboa", support, f"{order.store.slug}-3101-2")
    with zipfile.ZipFile(tmp_path / "drop" / f"{reprint.external_id}.zip") as archive:
        pdf = archive.read(f"files/{ordered.order_line.woo_line_id}-1-{ordered.ref}-v3.pdf")
    assert hashlib.sha256(pdf).hexdigest() == new.checksum

    # and the timeline says who, when, why, and both versions
    events = list(OrderEvent.objects.filter(order=order, type=EventType.REPROCESSED).order_by("pk"))
    assert [(e.user, e.message) for e in events] == [
        (support, f"Customer asked for Lisboa ({ordered.ref} v1 → v3)"),
        (None, f"Rendered again ({ordered.ref} v3); reprint queued for Print room"),
    ]
    assert events[0].data["projects"] == [{"ref": ordered.ref, "from_version": 1, "to_version": 3}]
    assert events[0].data["reason"] == "Customer asked for Lisboa"
    assert html.count("Customer asked for Lisboa") >= 2  # the reprocess and the reprint queued, on the timeline
    assert f"Customer asked for Lisboa ({ordered.ref} v1 → v3)" in html
    assert "sofia" in html
    assert OrderEvent.objects.filter(order=order, type=EventType.SUBMISSION_QUEUED,
                                     message__startswith="Reprint queued for Print room").count() == 1


def test_reprocess_of_an_order_not_yet_submitted_only_renders(client, ordered, print_room,
                                                              django_capture_on_commit_callbacks):
    order = ordered.order_line.order
    client.force_login(staff("operations"))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:projects_order_reprocess", args=[order.pk]), {"reason": "New crop"})

    reprocess = Reprocess.objects.get()
    assert reprocess.state == ReprocessState.RENDERED
    assert reprocess.outcome == (f"Rendered again ({ordered.ref} v2); nothing had been submitted, so the next "
                                 f"submission sends the new files")
    assert not Submission.objects.exists()
    assert ordered.renders.get(version=2).state == RenderState.DONE


def test_reprocess_needs_a_reason(client, ordered):
    client.force_login(staff("support"))
    order = ordered.order_line.order

    response = client.post(reverse("admin:projects_order_reprocess", args=[order.pk]), {"reason": "  "})

    assert response.status_code == 400
    assert '<p class="errornote">Say why the order is reprocessed.</p>' in response.content.decode()
    assert not Reprocess.objects.exists() and ordered.renders.count() == 1
    assert not OrderEvent.objects.filter(type=EventType.REPROCESSED).exists()


def test_a_failed_render_stops_the_reprocess_before_production(client, ordered, print_room,
                                                                django_capture_on_commit_callbacks):
    order = ordered.order_line.order
    first = submitted(order, django_capture_on_commit_callbacks)
    ordered.assets.get(pk=ordered.pages[0]["slots"]["photo"]["asset"]).image.delete(save=False)
    client.force_login(staff("support"))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:projects_order_reprocess", args=[order.pk]), {"reason": "Lighter photo"})

    reprocess = Reprocess.objects.get()
    assert reprocess.state == ReprocessState.FAILED
    assert reprocess.outcome.startswith(f"Not produced again: {ordered.ref} v2 failed: cannot read image")
    first.refresh_from_db()
    assert first.state == SubmissionState.SUBMITTED and Submission.objects.count() == 1
    assert OrderEvent.objects.filter(order=order, type=EventType.RENDER_FAILED).count() == 1


def test_a_second_reprocess_waits_for_the_first(client, ordered):
    client.force_login(staff("support"))
    order = ordered.order_line.order
    url = reverse("admin:projects_order_reprocess", args=[order.pk])
    client.post(url, {"reason": "First"})  # not committed: its render is still queued

    response = client.post(url, {"reason": "Second"})

    assert response.status_code == 400
    assert "Order #3101 is being reprocessed already" in response.content.decode()
    assert Reprocess.objects.count() == 1


def test_bulk_reprocess_asks_why_then_reprocesses_the_orders_with_projects(client, ordered, shop,
                                                                          django_capture_on_commit_callbacks):
    plain = OrderFactory(store=shop, number="3102")
    client.force_login(staff("operations"))
    selection = {"action": "bulk_reprocess", "_selected_action": [ordered.order_line.order_id, plain.pk]}

    asked = client.post(ORDERS_URL, selection)
    refused = client.post(ORDERS_URL, {**selection, "apply": "1", "reason": ""})
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(ORDERS_URL, {**selection, "apply": "1", "reason": "Printer colour profile"},
                           follow=True)

    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    assert refused.status_code == 400 and not Reprocess.objects.filter(reason="").exists()
    html = done.content.decode()
    assert "1 order is being rendered again: #3101" in html
    assert "Not reprocessed: #3102 (Order #3102 has no personalisation project to render again.)" in html
    reprocess = Reprocess.objects.get()
    assert (reprocess.order_id, reprocess.reason, reprocess.state) == (
        ordered.order_line.order_id, "Printer colour profile", ReprocessState.RENDERED)


def test_bulk_reprocess_is_not_offered_without_the_permission(client, ordered):
    client.force_login(staff("finance"))

    response = client.get(ORDERS_URL)

    assert "bulk_reprocess" not in response.content.decode()
