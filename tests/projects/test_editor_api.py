"""The editor-facing JSON API: per-store keys, projects reached by resume token or owner, errors naming the field."""

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from projects.choices import ProjectState, RenderState
from projects.models import EditorApiKey, Project, ProjectAsset, ProjectEvent, Render
from projects.services.api_keys import editor_key_create
from tests.factories import StoreFactory
from tests.projects.conftest import photo_upload
from tests.projects.factories import CustomerFactory, ProductTemplateFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(shop):
    return editor_key_create(store=shop, name="live editor")[1]


@pytest.fixture
def api(client, key):
    """The test client speaking to the API with the shop's key."""

    class Api:
        def __init__(self, key):
            self.headers = {"Authorization": f"Bearer {key}"}

        def get(self, url, headers=None, **params):
            return client.get(url, params, headers={**self.headers, **(headers or {})})

        def post(self, url, data=None, headers=None, method="post"):
            return getattr(client, method)(url, json.dumps(data if data is not None else {}),
                                           content_type="application/json",
                                           headers={**self.headers, **(headers or {})})

        def upload(self, url, data, headers=None):
            return client.post(url, data, headers={**self.headers, **(headers or {})})

    return Api(key)


@pytest.fixture
def anonymous_project(template):
    return ProjectFactory(template=template, owner=None)


def token_of(project):
    return {"X-Resume-Token": project.resume_token}


def url(name, *args):
    return reverse(f"editor_api:{name}", args=args)


def assert_error(response, status, field, message=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["field"] == field
    if message:
        assert message in body["error"]


# Keys


def test_create_editor_key_prints_the_key_once_and_keeps_only_its_hash(shop, capsys, client, template):
    call_command("create_editor_key", "shop", "--name", "staging editor")
    key = capsys.readouterr().out.strip()

    row = EditorApiKey.objects.get()
    assert (row.store, row.name, row.prefix) == (shop, "staging editor", key[:11])
    assert key.startswith("ek_") and len(key) > 40
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    response = client.post(url("projects"), {"template": template.pk}, content_type="application/json",
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201


def test_create_editor_key_for_an_unknown_store_fails(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No store with slug 'nope'"):
        call_command("create_editor_key", "nope")
    assert not EditorApiKey.objects.exists()


@pytest.mark.parametrize("header", [None, "Bearer ek_wrongwrongwrongwrongwrongwrongwrongwrong", "Token {key}",
                                    "Bearer ", "Bearer {key}x"])
def test_a_missing_or_wrong_key_is_a_401(client, key, template, header):
    headers = {"Authorization": header.format(key=key)} if header else {}
    response = client.post(url("projects"), {"template": template.pk}, content_type="application/json",
                           headers=headers)
    assert_error(response, 401, "Authorization", "missing, unknown or revoked API key")
    assert response["WWW-Authenticate"] == 'Bearer realm="editor"'
    assert not Project.objects.exists()


def test_a_revoked_key_is_a_401(api, template):
    EditorApiKey.objects.update(revoked_at=timezone.now())
    assert_error(api.post(url("projects"), {"template": template.pk}), 401, "Authorization")


# Creating a project


def test_create_an_anonymous_project(api, template):
    response = api.post(url("projects"), {"template": template.pk, "title": "My mug"})

    assert response.status_code == 201
    body = response.json()
    project = Project.objects.get()
    assert (project.owner, project.store, project.template, project.title, project.state) == (
        None, template.store, template, "My mug", ProjectState.DRAFT)
    assert body["id"] == project.ref
    assert body["resume_token"] == project.resume_token
    assert body["cart_item_meta"] == {"_project_id": project.ref}
    assert body["pages"] == [{"slots": {}}]
    assert body["owned"] is False
    assert body["template"]["page_layouts"] == template.page_layouts
    assert (body["template"]["min_pages"], body["template"]["max_pages"]) == (1, 1)
    assert ProjectEvent.objects.get(project=project).data == {"source": "editor_api", "template_id": template.pk}


def test_create_by_woocommerce_product_id(api, shop, template):
    mug = ProductTemplateFactory(store=shop, name="Mug", product_ids=[700, 701])
    response = api.post(url("projects"), {"product_id": 701})
    assert response.status_code == 201
    assert Project.objects.get().template == mug
    assert_error(api.post(url("projects"), {"product_id": 999}), 400, "product_id",
                 "no product template serves this product")


def test_create_for_a_known_logged_in_customer(api, shop, template, customer):
    customer.customer_profile.woo_customer_id = 42
    customer.customer_profile.save()

    response = api.post(url("projects"), {"template": template.pk, "customer_id": 42})

    assert response.status_code == 201 and response.json()["owned"] is True
    assert Project.objects.get().owner == customer


def test_create_for_a_customer_known_by_a_confirmed_email_only(api, template, customer):
    api.post(url("projects"), {"template": template.pk, "customer_email": "ANA@example.com"})
    assert Project.objects.get().owner is None  # the address is not confirmed: it could be anyone's

    customer.customer_profile.email_confirmed_at = datetime(2026, 11, 1, tzinfo=UTC)
    customer.customer_profile.save()
    api.post(url("projects"), {"template": template.pk, "customer_email": "ANA@example.com"})
    assert Project.objects.order_by("-id").first().owner == customer


def test_create_for_an_unknown_customer_is_anonymous(api, template, customer):
    response = api.post(url("projects"), {"template": template.pk, "customer_id": 9999,
                                          "customer_email": "who@example.com"})
    assert response.status_code == 201
    assert Project.objects.get().owner is None


def test_a_customer_of_another_shop_is_unknown_here(api, template):
    CustomerFactory(username="zoe@example.com", profile__store=StoreFactory(slug="elsewhere"), profile__woo_id=42)
    api.post(url("projects"), {"template": template.pk, "customer_id": 42})
    assert Project.objects.get().owner is None


@pytest.mark.parametrize("body, field, message", [
    ({}, "template", "give the template id or the WooCommerce product_id"),
    ({"template": "abc"}, "template", "template must be a template id"),
    ({"template": 999999}, "template", "this shop has no such product template"),
    ({"product_id": "mug"}, "product_id", "product_id must be"),
    ({"template": "{template}", "customer_id": "abc"}, "customer_id", "customer_id must be"),
    ({"template": "{template}", "customer_email": 5}, "customer_email", "customer_email must be a string"),
    ({"template": "{template}", "title": ["x"]}, "title", "title must be a string"),
    ({"template": "{template}", "title": "x" * 201}, "title", "The name is too long: at most 200 characters."),
])
def test_create_with_bad_input_is_a_400_naming_the_field(api, template, body, field, message):
    body = {k: (template.pk if v == "{template}" else v) for k, v in body.items()}
    assert_error(api.post(url("projects"), body), 400, field, message)
    assert not Project.objects.exists()


def test_create_with_a_body_that_is_not_json(api, client, key):
    response = client.post(url("projects"), "{not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {key}"})
    assert_error(response, 400, "body", "the body is not valid JSON")
    assert_error(api.post(url("projects"), ["a list"]), 400, "body", "the body must be a JSON object")


def test_another_stores_template_is_not_this_shops(api):
    foreign = ProductTemplateFactory(store=StoreFactory(slug="elsewhere"))
    assert_error(api.post(url("projects"), {"template": foreign.pk}), 400, "template")
    assert not Project.objects.exists()


def test_wrong_method_is_a_405(api):
    assert api.get(url("projects")).status_code == 405


# Reaching a project: resume token or owner, within the key's store


def test_get_a_project_with_its_resume_token(api, anonymous_project):
    response = api.get(url("project", anonymous_project.ref), headers=token_of(anonymous_project))
    assert response.status_code == 200
    assert response.json()["id"] == anonymous_project.ref
    response = api.get(url("project", anonymous_project.ref), resume_token=anonymous_project.resume_token)
    assert response.status_code == 200


def test_without_or_with_a_wrong_token_the_project_is_a_404(api, anonymous_project):
    assert_error(api.get(url("project", anonymous_project.ref)), 404, None, "no such project")
    assert_error(api.get(url("project", anonymous_project.ref), headers={"X-Resume-Token": "guess"}), 404, None)
    assert_error(api.get(url("project", "pdoesnotexist")), 404, None)


def test_an_owned_project_is_reached_by_its_owner(api, project, customer, other_customer):
    customer.customer_profile.woo_customer_id = 42
    customer.customer_profile.save()
    other_customer.customer_profile.woo_customer_id = 43
    other_customer.customer_profile.save()

    assert api.get(url("project", project.ref), customer_id=42).status_code == 200
    assert_error(api.get(url("project", project.ref), customer_id=43), 404, None)
    assert_error(api.post(url("pages", project.ref), {"pages": [{"slots": {}}], "customer_id": 43}), 404, None)
    assert_error(api.get(url("project", project.ref)), 404, None)


def test_another_stores_key_gets_a_404_even_with_the_token(client, anonymous_project):
    other_key = editor_key_create(store=StoreFactory(slug="elsewhere"), name="their editor")[1]
    response = client.get(url("project", anonymous_project.ref),
                          headers={"Authorization": f"Bearer {other_key}", **token_of(anonymous_project)})
    assert_error(response, 404, None)


def test_a_deleted_project_is_gone(api, anonymous_project):
    Project.objects.update(state=ProjectState.ARCHIVED)
    assert_error(api.get(url("project", anonymous_project.ref), headers=token_of(anonymous_project)), 404, None)


# Pages


def test_save_pages(api, anonymous_project):
    asset = ProjectAsset.objects.get(pk=api.upload(url("assets", anonymous_project.ref), {
        "file": photo_upload(), "resume_token": anonymous_project.resume_token}).json()["id"])
    pages = [{"slots": {"photo": {"asset": asset.pk, "focal": [0.5, 0.25], "scale": 1.5},
                        "caption": {"text": "Grandma's 80th"}}}]

    response = api.post(url("pages", anonymous_project.ref), {"pages": pages}, headers=token_of(anonymous_project),
                        method="put")

    assert response.status_code == 200
    assert response.json()["pages"] == pages
    anonymous_project.refresh_from_db()
    assert anonymous_project.pages == pages
    assert ProjectEvent.objects.filter(project=anonymous_project, type="saved").count() == 1


@pytest.mark.parametrize("pages, field, message", [
    ("nope", "pages", "Expected a list of pages."),
    ([], "pages", "This product has from 1 to 1 pages, not 0."),
    ([{"slots": {}}, {"slots": {}}], "pages", "This product has from 1 to 1 pages, not 2."),
    ([{"slots": []}], "pages[0].slots", "Expected the page's slots as an object"),
    ([{"slots": {"sticker": {"text": "hi"}}}], "pages[0].slots.sticker", 'This page has no slot "sticker".'),
    ([{"slots": {"photo": {"asset": "x"}}}], "pages[0].slots.photo.asset", "not one of the project's uploads"),
    ([{"slots": {"photo": {"asset": 999999}}}], "pages[0].slots.photo.asset", "not one of the project's uploads"),
    ([{"slots": {"photo": "a photo"}}], "pages[0].slots.photo", 'A photo slot takes an object with an "asset".'),
    ([{"slots": {"photo": {"asset": "{asset}", "focal": [2, 0]}}}], "pages[0].slots.photo.focal",
     "Expected a number from 0 to 1."),
    ([{"slots": {"photo": {"asset": "{asset}", "scale": 0.5}}}], "pages[0].slots.photo.scale",
     "Expected a number from 1.0 to 10.0."),
    ([{"slots": {"caption": {"text": 5}}}], "pages[0].slots.caption", 'A text slot takes an object with a "text"'),
    ([{"slots": {"caption": {"text": "x" * 41}}}], "pages[0].slots.caption.text",
     "This text is too long: at most 40 characters."),
])
def test_bad_pages_are_a_400_naming_the_field(api, anonymous_project, pages, field, message):
    asset_id = api.upload(url("assets", anonymous_project.ref), {
        "file": photo_upload(), "resume_token": anonymous_project.resume_token}).json()["id"]
    pages = json.loads(json.dumps(pages).replace('"{asset}"', str(asset_id)))

    response = api.post(url("pages", anonymous_project.ref), {"pages": pages}, headers=token_of(anonymous_project))

    assert_error(response, 400, field, message)
    anonymous_project.refresh_from_db()
    assert anonymous_project.pages == [{"slots": {}}]
    assert not ProjectEvent.objects.filter(type="saved").exists()


def test_an_image_of_another_project_of_the_same_shop_is_refused(api, template, anonymous_project):
    other = ProjectFactory(template=template)
    other_asset_id = api.upload(url("assets", other.ref), {"file": photo_upload(),
                                                           "resume_token": other.resume_token}).json()["id"]
    response = api.post(url("pages", anonymous_project.ref), {"pages": [{"slots": {"photo": {"asset": other_asset_id}}}]},
                        headers=token_of(anonymous_project))
    assert_error(response, 400, "pages[0].slots.photo.asset")


def test_pages_missing_from_the_body(api, anonymous_project):
    assert_error(api.post(url("pages", anonymous_project.ref), {}, headers=token_of(anonymous_project)), 400, "pages",
                 "send the pages")


def test_an_ordered_project_cannot_be_saved(api, anonymous_project):
    Project.objects.update(state=ProjectState.ORDERED)
    response = api.post(url("pages", anonymous_project.ref), {"pages": [{"slots": {}}]},
                        headers=token_of(anonymous_project))
    assert_error(response, 409, None, "This project has been ordered: it can no longer be changed.")
    response = api.upload(url("assets", anonymous_project.ref), {"file": photo_upload(),
                                                                 "resume_token": anonymous_project.resume_token})
    assert_error(response, 409, None)
    assert not ProjectAsset.objects.exists()


# Images


def test_upload_an_image(api, anonymous_project, client):
    response = api.upload(url("assets", anonymous_project.ref), {"file": photo_upload(size=(30, 20))},
                          headers=token_of(anonymous_project))

    assert response.status_code == 201
    body = response.json()
    asset = ProjectAsset.objects.get(project=anonymous_project)
    assert (body["id"], body["width"], body["height"], body["format"], body["sha256"]) == (
        asset.pk, 30, 20, "JPEG", asset.sha256)
    image = client.get(body["url"])  # a signed link: an <img> in the editor sends no key
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert client.get(body["thumbnail_url"]).status_code == 200


def test_upload_without_a_file_or_with_a_bad_one_is_a_400(api, anonymous_project):
    token = token_of(anonymous_project)
    assert_error(api.upload(url("assets", anonymous_project.ref), {}, headers=token), 400, "file",
                 "send the image as the multipart field 'file'")
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    response = api.upload(url("assets", anonymous_project.ref),
                          {"file": SimpleUploadedFile("a.gif", gif.getvalue(), "image/gif")}, headers=token)
    assert_error(response, 400, "file", "GIF images are not accepted")
    assert not ProjectAsset.objects.exists()


def test_upload_to_a_project_of_another_store_is_a_404(client, anonymous_project):
    other_key = editor_key_create(store=StoreFactory(slug="elsewhere"), name="their editor")[1]
    response = client.post(url("assets", anonymous_project.ref), {"file": photo_upload()},
                           headers={"Authorization": f"Bearer {other_key}", **token_of(anonymous_project)})
    assert_error(response, 404, None)
    assert not ProjectAsset.objects.exists()


def test_a_tampered_file_link_is_a_404(client, api, anonymous_project):
    link = api.upload(url("assets", anonymous_project.ref), {"file": photo_upload()},
                      headers=token_of(anonymous_project)).json()["url"]
    assert client.get(link.replace("/files/", "/files/x")).status_code == 404
    forged = reverse("editor_api:file", args=["assets:images:anything.jpg"])
    assert client.get(forged).status_code == 404


# Previews


def test_ask_for_a_preview_and_follow_it_to_its_pages(api, anonymous_project, client,
                                                      django_capture_on_commit_callbacks):
    token = token_of(anonymous_project)
    asset_id = api.upload(url("assets", anonymous_project.ref), {"file": photo_upload()}, headers=token).json()["id"]
    api.post(url("pages", anonymous_project.ref), {"pages": [{"slots": {"photo": {"asset": asset_id}}}]},
             headers=token)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url("renders", anonymous_project.ref), {}, headers=token)

    assert response.status_code == 202
    body = response.json()
    render = Render.objects.get(project=anonymous_project)
    assert (body["id"], body["version"], body["purpose"], body["state"]) == (render.pk, 1, "preview", "queued")

    response = api.get(url("render", anonymous_project.ref, render.pk), headers=token)
    body = response.json()
    assert body["state"] == RenderState.DONE, body["error"]
    assert len(body["previews"]) == 1
    preview = client.get(body["previews"][0])
    assert preview.status_code == 200 and preview["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(preview.streaming_content))) as image:
        assert image.format == "JPEG"
    assert client.get(body["mockup"]).status_code == 200


def test_a_render_of_another_project_is_a_404(api, anonymous_project, template):
    other = ProjectFactory(template=template)
    render = Render.objects.create(project=other, version=1, state=RenderState.DONE)
    assert_error(api.get(url("render", anonymous_project.ref, render.pk), headers=token_of(anonymous_project)),
                 404, None)


def test_an_anonymous_caller_cannot_ask_for_a_preview_of_someone_elses_project(api, project):
    assert_error(api.post(url("renders", project.ref), {}), 404, None)
    assert not Render.objects.exists()



@pytest.mark.parametrize("token", ["é" + "x" * 31, "tok\x00en"])
def test_a_resume_token_with_other_characters_is_a_404_not_a_500(api, anonymous_project, token):
    # hmac.compare_digest raises TypeError for a str that is not ASCII: this was a 500
    assert_error(api.get(url("project", anonymous_project.ref), headers={"X-Resume-Token": token}), 404, None)


def test_a_ref_with_a_nul_is_a_404_not_a_500(api):
    # PostgreSQL refuses NUL in a query's text: the lookup was a 500
    assert_error(api.get(url("project", "p\x00x")), 404, None)


@pytest.mark.parametrize(("data", "field"), [
    ({"customer_id": "١٢٣"}, "customer_id"), ({"customer_id": 10**30}, "customer_id"),
    ({"customer_id": True}, "customer_id"), ({"customer_email": "a\x00@example.com"}, "customer_email"),
])
def test_a_customer_given_as_other_digits_huge_or_with_a_nul_is_a_400(api, template, data, field):
    assert_error(api.post(url("projects"), {"template": template.pk, **data}), 400, field)


def test_a_body_nested_thousands_deep_is_a_400_not_a_500(api, client, key, template):
    response = api.post(url("projects"), {"template": template.pk, "title": json.loads("[" * 3000 + "]" * 3000)})
    assert_error(response, 400, "body", "nests deeper")
    # deeper than Python's parser goes: RecursionError, which was a 500
    response = client.post(url("projects"), b"[" * 100_000 + b"]" * 100_000, content_type="application/json",
                           headers={"Authorization": f"Bearer {key}"})
    assert_error(response, 400, "body", "not valid JSON")


def test_a_title_with_a_nul_is_kept_without_it(api, template):
    # PostgreSQL's text cannot hold NUL: the insert was a 500
    response = api.post(url("projects"), {"template": template.pk, "title": "Summer\x00 book"})
    assert response.status_code == 201 and response.json()["title"] == "Summer book"
