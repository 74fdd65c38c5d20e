"""Renders go to Printful as signed links to the back-office: the link's view, the adapter sending it to the
Printful stand-in over real HTTP, and a reprint after a reprocess fetched by the stand-in as Printful fetches it."""

import hashlib
import io
import logging
import time
from unittest import mock

import pytest
import requests
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections
from django.urls import reverse
from PIL import Image

from fulfillment import file_links
from fulfillment.choices import SubmissionState
from fulfillment.models import Submission
from fulfillment.providers.base import ProductionItem, ProductionOrder, ProviderRejectedError
from fulfillment.providers.printful import PrintfulAdapter
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.production import production_plan
from fulfillment.services.submissions import NotEligible, order_submit
from projects.choices import RenderPurpose, RenderState
from projects.models import Project, ProjectAsset, Render
from projects.services.reprocess import order_reprocess
from tests.browser.conftest import one_request_at_a_time_on_sqlite  # noqa: F401 (the live server, one request at a time)
from tests.factories import StoreFactory, UserFactory
from tests.fakes.printful import FakePrintful
from tests.fulfillment.production import printful_provider
from tests.fulfillment.test_demo_systems import wait_for
from tests.projects.factories import ProductTemplateFactory, ProjectFactory
from tests.woo_payloads import line_item, order_payload

PUBLIC = "https://backoffice.example.com"


@pytest.fixture(autouse=True)
def close_connections_after_each_answer(monkeypatch):
    """The live server's request threads close their connections after each answer (on PostgreSQL they would be kept
    for DB_CONN_MAX_AGE, still open when the test database is dropped)."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


def caption_pages(text):
    return [{"slots": {"caption": {"text": text}}}]


def ordered_project(store, woo_id=41, *, text="Lisbon 2026", extra_lines=()):
    """A project bought in a processing order of the store: linked and rendered (version 1) as the order arrives."""
    project = ProjectFactory(template=ProductTemplateFactory(store=store), pages=caption_pages(text))
    meta = [{"id": 1, "key": "_project_id", "value": project.ref, "display_key": "_project_id",
             "display_value": project.ref}]
    lines = [line_item(woo_id * 10 + 1, name="Photo mug", sku="MUG-11", meta=meta), *extra_lines]
    payload = order_payload(woo_id, line_items=lines)
    payload["shipping"].update(address_1="Hauptstraße 2", postcode="1010")
    orders_upsert(store=store, payloads=[payload], source="import")
    project.refresh_from_db()
    return project


def jpeg_bytes():
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 60, 40)).save(out, "JPEG")
    return out.getvalue()


def production_render(project, version=1):
    return Render.objects.get(project=project, version=version, purpose=RenderPurpose.PRODUCTION)


def link_of(render):
    return file_links.file_url(default_storage.path(render.production_file.name))


# -- the link and its view ------------------------------------------------------------------------------------------

@pytest.fixture
def rendered(db, settings, django_capture_on_commit_callbacks):
    settings.BACKOFFICE_PUBLIC_URL = PUBLIC
    with django_capture_on_commit_callbacks(execute=True):
        project = ordered_project(StoreFactory(slug="prints"))
    render = production_render(project)
    assert render.state == RenderState.DONE
    return render


def path_of(url):
    assert url.startswith(PUBLIC + "/files/production/")
    return url[len(PUBLIC):]


def test_a_signed_link_serves_the_render_without_a_login(rendered, client):
    url = link_of(rendered)

    response = client.get(path_of(url))

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    body = b"".join(response.streaming_content)
    assert body.startswith(b"%PDF-") and hashlib.sha256(body).hexdigest() == rendered.checksum
    assert url.endswith(f"/{rendered.project.ref}-v1.pdf")


def test_an_expired_link_is_refused_and_logged(rendered, client, settings, caplog):
    url = link_of(rendered)
    later = time.time() + settings.PRODUCTION_FILE_LINK_DAYS * 86400 + 60

    with mock.patch("django.core.signing.time.time", return_value=later), caplog.at_level(logging.WARNING):
        response = client.get(path_of(url))

    assert response.status_code == 403 and response.content == b"This link has expired."
    assert "production file link refused: expired" in caplog.text
    with mock.patch("django.core.signing.time.time", return_value=later - 120):
        assert client.get(path_of(url)).status_code == 200  # a minute before it expires it still works


def test_a_tampered_link_is_refused_and_logged(rendered, client, caplog):
    token, filename = path_of(link_of(rendered)).split("/")[-2:]
    forged = signing.dumps("renders/other/v1/other-v1.pdf", salt="another-salt", compress=True)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    with caplog.at_level(logging.WARNING):
        answers = [client.get(reverse("fulfillment:production-file", args=[t, filename])).status_code
                   for t in (flipped, forged, "not-a-token")]
        renamed = client.get(reverse("fulfillment:production-file", args=[token, "invoice.pdf"])).status_code

    assert answers == [403, 403, 403] and renamed == 403
    assert caplog.text.count("production file link refused: bad signature") == 4


def test_a_link_to_a_file_that_is_no_render_is_not_found(rendered, client, settings, caplog):
    jpeg = jpeg_bytes()
    asset = ProjectAsset.objects.create(project=rendered.project, original=ContentFile(jpeg, "photo.jpg"),
                                        image=ContentFile(jpeg, "photo.jpg"), format="JPEG", size=len(jpeg),
                                        sha256=hashlib.sha256(jpeg).hexdigest())
    (settings.MEDIA_ROOT.parent / "secret.txt").write_text("not for providers")
    names = [asset.original.name,  # a customer's photo: a stored file, not a print file
             "../secret.txt", f"renders/{rendered.project.ref}/v1/../../../../secret.txt",
             f"renders/{rendered.project.ref}/v9/{rendered.project.ref}-v9.pdf"]  # no such version

    with caplog.at_level(logging.WARNING):
        answers = [client.get(reverse("fulfillment:production-file", args=[
            signing.dumps(name, salt=file_links.SALT, compress=True), name.rsplit("/", 1)[-1]])).status_code
            for name in names]

    assert answers == [404, 404, 404, 404]
    assert caplog.text.count("names no production file") == 4


def test_a_pruned_render_is_not_found(rendered, client):
    url = link_of(rendered)
    default_storage.delete(rendered.production_file.name)

    assert client.get(path_of(url)).status_code == 404


def test_only_stored_print_files_get_a_link(rendered, settings, tmp_path):
    outside = tmp_path / "elsewhere.pdf"
    outside.write_bytes(b"%PDF-1.4")

    with pytest.raises(file_links.FileLinkError, match="local file this provider cannot fetch"):
        file_links.file_url(str(outside), line_name="Photo mug")
    assert file_links.file_url("https://files.example.com/a.pdf") == "https://files.example.com/a.pdf"
    settings.BACKOFFICE_PUBLIC_URL = ""
    with pytest.raises(file_links.FileLinkError, match="BACKOFFICE_PUBLIC_URL"):
        link_of(rendered)


# -- the adapter and production, against the Printful stand-in ----------------------------------------------------

def test_without_a_public_url_a_render_does_not_go_to_printful(db, settings, printful,
                                                               django_capture_on_commit_callbacks):
    settings.BACKOFFICE_PUBLIC_URL = ""
    store = StoreFactory(slug="prints")
    with django_capture_on_commit_callbacks(execute=True):
        project = ordered_project(store)
    provider = printful_provider(store, printful)
    order = project.order_line.order

    assert production_plan(order, [provider]).problems == [
        "the production file of Photo mug must go to the provider as a link, and BACKOFFICE_PUBLIC_URL (the "
        "back-office's address on the internet) is not set"]
    with pytest.raises(NotEligible, match="BACKOFFICE_PUBLIC_URL"):
        order_submit(order=order, user=None)
    assert not Submission.objects.exists() and printful.requests == []

    # The adapter itself never sends a path: Printful would answer "File URL is not valid"
    adapter = PrintfulAdapter(base_url=printful.url, token=printful.token)
    path = default_storage.path(production_render(project).production_file.name)
    item = ProductionItem(line_id=1, sku="MUG-11", name="Photo mug", quantity=1, unit_price="9.50", files=[path])
    with pytest.raises(ProviderRejectedError, match="BACKOFFICE_PUBLIC_URL"):
        adapter.submit(ProductionOrder(external_id="x-1", number="1", currency="EUR", items=[item],
                                       recipient={"address1": "Hauptstraße 2", "city": "Wien", "country_code": "AT"}))
    assert printful.requests == []


def test_the_printful_stand_in_refuses_a_file_that_is_no_url(printful):
    body = {"external_id": "x-1", "recipient": {"address1": "Hauptstraße 2", "city": "Wien", "country_code": "AT"},
            "items": [{"variant_id": 1320, "quantity": 1, "files": [{"url": "https://files.example.com/a.pdf"}]},
                      {"variant_id": 1320, "quantity": 1, "files": [{"url": "/srv/media/renders/a-v1.pdf"}]}]}

    answer = requests.post(f"{printful.url}/orders", json=body, timeout=5,
                           headers={"Authorization": f"Bearer {printful.token}"})

    assert answer.status_code == 400
    assert answer.json() == {"code": 400, "result": "Item 1: File URL is not valid",
                             "error": {"reason": "BadRequest", "message": "Item 1: File URL is not valid"}}
    assert printful.created == 0


@pytest.fixture
def demo_printful(monkeypatch):
    """Printful's stand-in in demo mode: it downloads every file it is sent before it ships the order. The test
    says when (ship_and_tell): on SQLite the live server's thread shares the test's connection."""
    server = FakePrintful(demo=True, ship_after=600).start()
    monkeypatch.setenv("PRINTFUL_TEST_TOKEN", server.token)
    yield server
    server.stop()


def sent_files(printful, external_id):
    return [[f["url"] for f in item["files"]] for item in printful.order(external_id)["items"]]


def test_a_render_goes_to_printful_as_a_link_it_downloads_and_a_url_as_it_is(
        live_server, settings, demo_printful, httpserver):
    settings.BACKOFFICE_PUBLIC_URL = live_server.url
    store = StoreFactory(slug="prints")
    httpserver.expect_request("/wp-content/uploads/tee-front.pdf").respond_with_data(
        b"%PDF-1.4 the shop's file", content_type="application/pdf")
    shop_file = httpserver.url_for("/wp-content/uploads/tee-front.pdf")
    tee = line_item(412, name="Printed tee", sku="TEE-ORG", meta=[
        {"id": 2, "key": "_print_file_url", "value": shop_file, "display_key": "_print_file_url",
         "display_value": shop_file}])
    project = ordered_project(store, extra_lines=[tee])  # transaction=True: the render ran at commit
    provider = printful_provider(store, demo_printful, variant_map={})
    render = production_render(project)
    size = render.production_file.size

    (submission,) = order_submit(order=project.order_line.order, user=None)  # sent at commit

    submission.refresh_from_db()
    assert submission.state == SubmissionState.SUBMITTED and submission.provider == provider
    (mug_files, tee_files) = sent_files(demo_printful, submission.external_id)
    assert tee_files == [shop_file]  # a URL goes as it is
    (mug_file,) = mug_files  # exactly one file: the render
    assert mug_file.startswith(f"{live_server.url}/files/production/") and mug_file.endswith(
        f"/{project.ref}-v1.pdf")
    assert demo_printful.ship_and_tell(submission.external_id)  # it downloads both, then ships
    assert sorted(demo_printful.downloads) == sorted([(mug_file, 200, size), (shop_file, 200, 24)])
    assert demo_printful.order(submission.external_id)["status"] == "fulfilled"


def test_a_file_printful_cannot_download_fails_the_order_with_the_reason(live_server, settings, demo_printful):
    settings.BACKOFFICE_PUBLIC_URL = live_server.url
    store = StoreFactory(slug="prints")
    project = ordered_project(store)
    printful_provider(store, demo_printful)
    (submission,) = order_submit(order=project.order_line.order, user=None)
    render = production_render(project)
    default_storage.delete(render.production_file.name)  # pruned before Printful came for it

    assert demo_printful.ship_and_tell(submission.external_id) is None

    (url,) = sent_files(demo_printful, submission.external_id)[0]
    assert demo_printful.downloads == [(url, 404, demo_printful.downloads[0][2])]
    assert demo_printful.order(submission.external_id)["status"] == "failed"


def test_a_reprint_after_a_reprocess_sends_the_new_render_and_printful_fetches_it(
        live_server, settings, demo_printful):
    settings.BACKOFFICE_PUBLIC_URL = live_server.url
    store = StoreFactory(slug="prints")
    project = ordered_project(store)
    printful_provider(store, demo_printful)
    order = project.order_line.order
    (first,) = order_submit(order=order, user=None)
    assert demo_printful.ship_and_tell(first.external_id)  # downloaded, made, shipped
    Project.objects.filter(pk=project.pk).update(pages=caption_pages("Lisboa 2026, sharper"))

    order_reprocess(order=order, reason="Customer sent a better caption", user=UserFactory())  # v2, then reprint

    reprint = Submission.objects.get(order=order, reprint_of=first)
    assert reprint.state == SubmissionState.SUBMITTED and reprint.external_id == f"{first.external_id}-2"
    assert Submission.objects.get(pk=first.pk).state == SubmissionState.REPRINTED
    assert not Submission.objects.exclude(failure_reason="").exists()
    v1, v2 = production_render(project), production_render(project, 2)
    ((old_file,),), ((new_file,),) = (sent_files(demo_printful, first.external_id),
                                      sent_files(demo_printful, reprint.external_id))
    assert old_file.endswith(f"/{project.ref}-v1.pdf") and new_file.endswith(f"/{project.ref}-v2.pdf")
    assert demo_printful.ship_and_tell(reprint.external_id)
    assert [f["status"] for item in demo_printful.order(reprint.external_id)["items"] for f in item["files"]] == [
        "ok"]
    assert demo_printful.downloads[-1] == (new_file, 200, v2.production_file.size)
    body = requests.get(new_file, timeout=5).content
    assert hashlib.sha256(body).hexdigest() == v2.checksum != v1.checksum
