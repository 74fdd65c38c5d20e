"""My Account: a customer's own projects, and nobody else's."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from projects.choices import ProjectState, RenderPurpose, RenderState
from projects.models import CustomerProfile, Project, ProjectAsset, ProjectEvent, Render
from projects.services.assets import asset_upload
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory, UserFactory
from tests.projects.conftest import jpeg, photo_upload
from tests.projects.factories import CustomerFactory, ProjectFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pass-1234-word"


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer)
    return client


@pytest.fixture
def asset(project):
    return asset_upload(project=project, uploaded_file=photo_upload(), user=project.owner)


def done_render(project, *, version=1, colour=(10, 120, 200)):
    name = default_storage.save(f"renders/{project.ref}-v{version}-p1.jpg", ContentFile(jpeg(colour=colour)))
    mockup = default_storage.save(f"renders/{project.ref}-v{version}-mockup.jpg", ContentFile(jpeg()))
    return Render.objects.create(project=project, version=version, purpose=RenderPurpose.PREVIEW,
                                 state=RenderState.DONE, previews=[name], mockup=mockup)


def ordered(project, number="1234"):
    line = OrderLineFactory(order=OrderFactory(store=project.store, number=number))
    Project.objects.filter(pk=project.pk).update(state=ProjectState.ORDERED, order_line=line)
    project.refresh_from_db()
    return project


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


# Sign-up, login, logout, confirmation, password reset


def test_signup_makes_a_customer_who_is_not_staff_and_mails_a_confirmation(client, shop,
                                                                          django_capture_on_commit_callbacks):
    response = client.get(reverse("account:signup") + "?store=shop")
    assert response.status_code == 200
    assert 'name="store" value="shop"' in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account:signup") + "?store=shop", {
            "store": "shop", "email": " Carla.Verdi@Example.com ", "password1": "a-long-pass-phrase", "password2":
            "a-long-pass-phrase"})

    assert response.status_code == 302 and response["Location"] == reverse("account:projects")
    user = get_user_model().objects.get(email="carla.verdi@example.com")
    assert (user.username, user.is_staff, user.is_superuser) == ("carla.verdi@example.com", False, False)
    assert user.customer_profile.store == shop
    assert user.customer_profile.email_confirmed_at is None
    assert client.get(reverse("account:projects")).status_code == 200  # logged in
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["carla.verdi@example.com"]
    assert mail.outbox[0].subject == "Confirm your email address for Photo shop"
    assert "/account/confirm/" in mail.outbox[0].body


def test_the_shops_customer_is_linked_by_email_once_the_address_is_confirmed(client, shop,
                                                                             django_capture_on_commit_callbacks):
    OrderFactory(store=shop, customer_email="Carla.Verdi@example.com", customer_woo_id=77)
    OrderFactory(store=StoreFactory(slug="other"), customer_email="carla.verdi@example.com", customer_woo_id=99)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account:signup"), {"store": "shop", "email": "carla.verdi@example.com",
                                                "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"})
    profile = CustomerProfile.objects.get(user__email="carla.verdi@example.com")
    assert profile.woo_customer_id is None  # not before the address is proven: anyone could type it

    link = re.search(r"http://testserver(/account/confirm/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link)

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.email_confirmed_at is not None
    assert profile.woo_customer_id == 77


def test_a_bad_confirmation_link_changes_nothing(client, customer):
    response = client.get(reverse("account:confirm_email", args=["forged:token"]), follow=True)
    assert "This confirmation link is invalid or has expired." in messages_of(response)
    customer.customer_profile.refresh_from_db()
    assert customer.customer_profile.email_confirmed_at is None


def test_signup_refuses_a_taken_address_and_a_weak_password(client, shop, customer):
    response = client.post(reverse("account:signup"), {"store": "shop", "email": "ANA@example.com",
                                                       "password1": "a-long-pass-phrase",
                                                       "password2": "a-long-pass-phrase"})
    assert response.status_code == 200
    assert "An account with this email address already exists" in response.content.decode()

    response = client.post(reverse("account:signup"), {"store": "shop", "email": "new@example.com",
                                                       "password1": "12345678", "password2": "12345678"})
    assert response.status_code == 200
    assert response.context["form"].errors["password1"]
    response = client.post(reverse("account:signup"), {"store": "shop", "email": "new@example.com",
                                                       "password1": "a-long-pass-phrase", "password2": "other-pass"})
    assert response.context["form"].errors["password2"] == ["The two passwords differ."]
    assert not get_user_model().objects.filter(email="new@example.com").exists()
    assert mail.outbox == []


def test_login_with_email_and_password_then_logout(client, customer):
    response = client.post(reverse("account:login"), {"username": "ANA@example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("account:projects")
    assert client.get(reverse("account:projects")).status_code == 200

    response = client.post(reverse("account:logout"))
    assert response["Location"] == reverse("account:login")
    assert client.get(reverse("account:projects")).status_code == 302


def test_staff_cannot_log_in_on_the_customer_login(client, db):
    UserFactory(username="staffer", email="staffer@example.com")
    response = client.post(reverse("account:login"), {"username": "staffer@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_customer_never_enters_the_admin(logged_in):
    response = logged_in.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    response = logged_in.get(reverse("admin:fulfillment_order_changelist"))
    assert response.status_code == 302
    response = logged_in.post("/admin/login/", {"username": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 200  # the admin's login refuses a non-staff account


def test_password_reset_by_email(client, customer, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    response = client.post(reverse("account:password_reset"), {"email": "ana@example.com"})
    assert response["Location"] == reverse("account:password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Your new password"
    link = re.search(r"http://testserver(/account/reset/\S+/)", mail.outbox[0].body).group(1)

    response = client.get(link, follow=True)  # Django swaps the token for a session marker, then shows the form
    assert response.status_code == 200 and response.context["validlink"]
    response = client.post(response.redirect_chain[-1][0], {"new_password1": "brand-new-pass-42",
                                                            "new_password2": "brand-new-pass-42"})
    assert response["Location"] == reverse("account:password_reset_complete")
    assert client.login(username="ana@example.com", password="brand-new-pass-42")


def test_password_reset_sends_nothing_to_staff_or_unknown_addresses(client, db):
    UserFactory(username="staffer", email="staffer@example.com")
    for email in ("staffer@example.com", "nobody@example.com"):
        response = client.post(reverse("account:password_reset"), {"email": email})
        assert response["Location"] == reverse("account:password_reset_done")  # the same answer: nothing leaks
    assert mail.outbox == []


# The list


def test_list_shows_own_saved_and_ordered_projects_with_thumbnail_order_and_last_change(
        logged_in, customer, other_customer, template, django_assert_max_num_queries):
    draft = ProjectFactory(template=template, owner=customer, title="Birthday mug")
    bought = ordered(ProjectFactory(template=template, owner=customer, title="Photo book 2026"), number="5150")
    done_render(bought, version=1, colour=(0, 0, 0))
    latest = done_render(bought, version=2)
    Render.objects.create(project=bought, version=3, state=RenderState.FAILED)
    ProjectFactory(template=template, owner=customer, title="Deleted draft", state=ProjectState.ARCHIVED)
    ProjectFactory(template=template, owner=other_customer, title="Bruno's secret")
    ProjectFactory(template=template, owner=None, title="Anonymous cart")

    with django_assert_max_num_queries(6):
        response = logged_in.get(reverse("account:projects"))

    html = response.content.decode()
    assert [p.title for p in response.context["projects"]] == ["Photo book 2026", "Birthday mug"]
    assert "Bruno's secret" not in html and "Anonymous cart" not in html and "Deleted draft" not in html
    assert reverse("account:render_page", args=[bought.ref, latest.pk, 0]) in html
    assert "Order #5150" in html
    assert 'class="thumb placeholder"' in html  # the draft has no render yet
    assert f'href="{reverse("account:project", args=[draft.ref])}"' in html
    assert "Last change" in html


def test_list_in_the_customers_language(logged_in, project):
    response = logged_in.get(reverse("account:projects"), HTTP_ACCEPT_LANGUAGE="es")
    assert response["Content-Language"] == "es"
    assert "Mis proyectos" in response.content.decode()


# Editing a draft


def test_draft_opens_in_the_editor_with_its_slots(logged_in, project, asset):
    response = logged_in.get(reverse("account:project", args=[project.ref]))
    html = response.content.decode()
    assert response.context["editable"] is True
    assert 'name="slot-0-photo"' in html and 'name="slot-0-caption"' in html
    assert reverse("account:asset_file", args=[project.ref, asset.pk]) + "?size=thumb" in html
    assert 'id="no-preview"' in html


def test_upload_a_photo_from_the_editor(logged_in, project):
    response = logged_in.post(reverse("account:project_upload", args=[project.ref]), {"file": photo_upload()})
    assert response["Location"] == reverse("account:project", args=[project.ref])
    asset = ProjectAsset.objects.get(project=project)
    assert (asset.width, asset.height) == (64, 48)


def test_upload_refusal_is_shown_and_nothing_stored(logged_in, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("notes.txt", b"hello, not a photo", content_type="text/plain")
    response = logged_in.post(reverse("account:project_upload", args=[project.ref]), {"file": bad}, follow=True)
    assert any("not an image we can read" in m for m in messages_of(response))
    assert not ProjectAsset.objects.exists()


def test_save_puts_the_photo_in_its_slot_and_asks_for_a_preview(logged_in, project, asset):
    response = logged_in.post(reverse("account:project_save", args=[project.ref]),
                              {"slot-0-photo": str(asset.pk), "slot-0-caption": "  Summer 2026 "})

    assert response["Location"] == reverse("account:project", args=[project.ref])
    project.refresh_from_db()
    assert project.pages == [{"slots": {"photo": {"asset": asset.pk}, "caption": {"text": "Summer 2026"}}}]
    render = Render.objects.get(project=project)
    assert (render.purpose, render.requested_by) == (RenderPurpose.PREVIEW, project.owner)
    assert ProjectEvent.objects.filter(project=project, type="saved").count() == 1


def test_save_with_too_long_a_text_changes_nothing(logged_in, project, asset):
    response = logged_in.post(reverse("account:project_save", args=[project.ref]),
                              {"slot-0-photo": str(asset.pk), "slot-0-caption": "x" * 41}, follow=True)
    assert "This text is too long: at most 40 characters." in messages_of(response)
    project.refresh_from_db()
    assert project.pages == [{"slots": {}}]
    assert not Render.objects.exists()
    assert not ProjectEvent.objects.filter(type="saved").exists()


def test_save_refuses_an_image_of_another_project(logged_in, project, template, other_customer):
    foreign = ProjectFactory(template=template, owner=other_customer)
    foreign_asset = asset_upload(project=foreign, uploaded_file=photo_upload(colour=(1, 2, 3)))
    response = logged_in.post(reverse("account:project_save", args=[project.ref]),
                              {"slot-0-photo": str(foreign_asset.pk)}, follow=True)
    assert "This image is not one of the project's uploads." in messages_of(response)
    project.refresh_from_db()
    assert project.pages == [{"slots": {}}]


def test_editor_shows_the_latest_done_preview_and_polls_while_one_is_made(logged_in, project):
    old = done_render(project, version=1)
    Render.objects.create(project=project, version=2, purpose=RenderPurpose.PREVIEW, state=RenderState.QUEUED)
    response = logged_in.get(reverse("account:project", args=[project.ref]))
    html = response.content.decode()
    assert reverse("account:render_page", args=[project.ref, old.pk, 0]) in html
    assert 'data-pending="true"' in html and 'id="preview-pending"' in html
    state = logged_in.get(reverse("account:project_preview_state", args=[project.ref])).json()
    assert state == {"state": "queued", "pending": True, "version": 1,
                     "previews": [reverse("account:render_page", args=[project.ref, old.pk, 0])]}


def test_rename(logged_in, project):
    response = logged_in.post(reverse("account:project_rename", args=[project.ref]), {"title": "  Mum's  mug "})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.title == "Mum's mug"
    event = ProjectEvent.objects.get(project=project, type="renamed")
    assert event.data == {"before": "Holiday print", "after": "Mum's mug"}


def test_rename_to_nothing_is_refused(logged_in, project):
    response = logged_in.post(reverse("account:project_rename", args=[project.ref]), {"title": "  "}, follow=True)
    assert "Give the project a name." in messages_of(response)
    project.refresh_from_db()
    assert project.title == "Holiday print"


def test_duplicate_copies_pages_and_images_into_a_new_draft(logged_in, project, asset):
    Project.objects.filter(pk=project.pk).update(pages=[{"slots": {"photo": {"asset": asset.pk, "focal": [0.2, 0.3]},
                                                                  "caption": {"text": "Hi"}}}])
    response = logged_in.post(reverse("account:project_duplicate", args=[project.ref]))

    copy = Project.objects.exclude(pk=project.pk).get()
    assert response["Location"] == reverse("account:project", args=[copy.ref])
    assert (copy.owner, copy.state, copy.title, copy.template) == (project.owner, "draft", "Copy of Holiday print",
                                                                   project.template)
    copied_asset = ProjectAsset.objects.get(project=copy)
    assert copied_asset.pk != asset.pk and copied_asset.sha256 == asset.sha256
    assert copied_asset.image.name == asset.image.name
    assert copy.pages == [{"slots": {"photo": {"asset": copied_asset.pk, "focal": [0.2, 0.3]},
                                     "caption": {"text": "Hi"}}}]
    assert copy.resume_token != project.resume_token
    assert ProjectEvent.objects.get(project=copy, type="duplicated").data["source_ref"] == project.ref


def test_delete_asks_first_then_removes_the_draft_from_the_list(logged_in, project):
    response = logged_in.get(reverse("account:project_delete", args=[project.ref]))
    assert response.status_code == 200 and 'id="delete-form"' in response.content.decode()
    project.refresh_from_db()
    assert project.state == ProjectState.DRAFT

    response = logged_in.post(reverse("account:project_delete", args=[project.ref]))
    assert response["Location"] == reverse("account:projects")
    project.refresh_from_db()
    assert project.state == ProjectState.ARCHIVED  # kept for the cart line that may still carry its id
    assert ProjectEvent.objects.filter(project=project, type="deleted").exists()
    assert logged_in.get(reverse("account:project", args=[project.ref])).status_code == 404
    assert f'data-ref="{project.ref}"' not in logged_in.get(reverse("account:projects")).content.decode()


# Ordered projects are read-only


def test_ordered_project_is_read_only(logged_in, project, asset):
    Project.objects.filter(pk=project.pk).update(pages=[{"slots": {"photo": {"asset": asset.pk},
                                                                  "caption": {"text": "As ordered"}}}])
    ordered(project, number="777")
    events_before = ProjectEvent.objects.count()

    response = logged_in.get(reverse("account:project", args=[project.ref]))
    html = response.content.decode()
    assert response.context["editable"] is False
    assert 'id="read-only"' in html and 'id="editor-form"' not in html and 'id="upload-form"' not in html
    assert "Order #777" in html and "As ordered" in html

    refused = "This project has been ordered: it can no longer be changed."
    response = logged_in.post(reverse("account:project_save", args=[project.ref]),
                              {"slot-0-caption": "Changed"}, follow=True)
    assert refused in messages_of(response)
    response = logged_in.post(reverse("account:project_upload", args=[project.ref]),
                              {"file": photo_upload(colour=(9, 9, 9))}, follow=True)
    assert refused in messages_of(response)
    response = logged_in.post(reverse("account:project_rename", args=[project.ref]), {"title": "New"}, follow=True)
    assert refused in messages_of(response)
    response = logged_in.post(reverse("account:project_delete", args=[project.ref]), follow=True)
    assert "Only saved projects can be deleted; ordered ones stay with their order." in messages_of(response)

    project.refresh_from_db()
    assert (project.state, project.title) == (ProjectState.ORDERED, "Holiday print")
    assert project.pages[0]["slots"]["caption"] == {"text": "As ordered"}
    assert ProjectAsset.objects.filter(project=project).count() == 1
    assert not Render.objects.exists()
    assert ProjectEvent.objects.count() == events_before


def test_an_ordered_project_can_be_copied_into_a_new_draft(logged_in, project):
    ordered(project)
    response = logged_in.post(reverse("account:project_duplicate", args=[project.ref]))
    copy = Project.objects.exclude(pk=project.pk).get()
    assert response["Location"] == reverse("account:project", args=[copy.ref])
    assert (copy.state, copy.order_line) == (ProjectState.DRAFT, None)


# Files go through views that check the owner


def test_own_image_and_preview_files_are_served(logged_in, project, asset):
    render = done_render(project)
    response = logged_in.get(reverse("account:asset_file", args=[project.ref, asset.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert response["Cache-Control"] == "private, max-age=86400"
    response = logged_in.get(reverse("account:asset_file", args=[project.ref, asset.pk]) + "?size=thumb")
    assert response.status_code == 200
    assert logged_in.get(reverse("account:render_page", args=[project.ref, render.pk, 0])).status_code == 200
    assert logged_in.get(reverse("account:render_page", args=[project.ref, render.pk, 1])).status_code == 404
    assert logged_in.get(reverse("account:render_mockup", args=[project.ref, render.pk])).status_code == 200


def customer_urls(project, asset, render):
    ref = project.ref
    return [
        ("get", reverse("account:project", args=[ref])),
        ("post", reverse("account:project_save", args=[ref])),
        ("post", reverse("account:project_upload", args=[ref])),
        ("post", reverse("account:project_rename", args=[ref])),
        ("post", reverse("account:project_duplicate", args=[ref])),
        ("get", reverse("account:project_delete", args=[ref])),
        ("post", reverse("account:project_delete", args=[ref])),
        ("get", reverse("account:project_preview_state", args=[ref])),
        ("get", reverse("account:asset_file", args=[ref, asset.pk])),
        ("get", reverse("account:asset_file", args=[ref, asset.pk]) + "?size=thumb"),
        ("get", reverse("account:render_page", args=[ref, render.pk, 0])),
        ("get", reverse("account:render_mockup", args=[ref, render.pk])),
    ]


def test_every_project_url_is_a_404_for_another_customer(client, project, asset, other_customer):
    render = done_render(project)
    client.force_login(other_customer)
    for method, url in customer_urls(project, asset, render):
        data = {"title": "x", "slot-0-caption": "x"} if method == "post" else {}
        assert getattr(client, method)(url, data).status_code == 404, (method, url)
    # Mixing one's own project with another's image or render does not help either.
    mine = ProjectFactory(template=project.template, owner=other_customer)
    assert client.get(reverse("account:asset_file", args=[mine.ref, asset.pk])).status_code == 404
    assert client.get(reverse("account:render_page", args=[mine.ref, render.pk, 0])).status_code == 404

    project.refresh_from_db()
    assert (project.title, project.state, project.pages) == ("Holiday print", ProjectState.DRAFT, [{"slots": {}}])
    assert Project.objects.count() == 2 and Render.objects.count() == 1


def test_every_customer_url_sends_the_anonymous_visitor_to_the_login(client, project, asset):
    render = done_render(project)
    login = reverse("account:login")
    for method, url in [("get", reverse("account:projects"))] + customer_urls(project, asset, render):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith(f"{login}?next="), (method, url)
    assert Project.objects.get().title == "Holiday print"


def test_staff_logged_in_elsewhere_see_no_customer_project(client, project, asset):
    client.force_login(UserFactory(username="operations", is_superuser=True))
    assert client.get(reverse("account:project", args=[project.ref])).status_code == 404
    assert client.get(reverse("account:asset_file", args=[project.ref, asset.pk])).status_code == 404


def test_customers_of_another_shop_are_strangers_too(client, project, asset):
    stranger = CustomerFactory(username="zoe@example.com", profile__store=StoreFactory(slug="elsewhere"))
    client.force_login(stranger)
    assert client.get(reverse("account:project", args=[project.ref])).status_code == 404
    assert client.get(reverse("account:asset_file", args=[project.ref, asset.pk])).status_code == 404
