import json
import os
import zipfile
from datetime import date

import pytest

from fulfillment.providers import file_drop, printful as printful_module
from fulfillment.providers.base import (
    ProductionItem,
    ProductionOrder,
    ProviderDuplicateError,
    ProviderRejectedError,
    ProviderRetryableError,
    RemoteOrder,
    RemoteShipment,
)
from fulfillment.providers.file_drop import FileDropAdapter
from fulfillment.providers.printful import PrintfulAdapter
from fulfillment.providers.registry import adapter_for
from tests.factories import ProviderFactory
from tests.fakes.printful import HTML_ERROR

MUGS, CANVAS = 171, 172
MUG_FILE = "https://files.example.com/renders/17-171-front.pdf"
RECIPIENT = {"name": "Ben Schmidt", "company": "", "address1": "Hauptstraße 2", "address2": "", "city": "Wien",
             "state_code": "", "country_code": "AT", "zip": "1010", "phone": "+43 1 5550101",
             "email": "ben.schmidt@example.com"}


def production(external_id="shop-17", *, recipient=None, mug_files=(MUG_FILE,), packing_note=""):
    return ProductionOrder(
        external_id=external_id, number="17", currency="EUR", recipient=dict(recipient or RECIPIENT),
        items=[
            ProductionItem(line_id=MUGS, sku="MUG-11", name="Photo mug", quantity=3, unit_price="9.50",
                           files=list(mug_files)),
            ProductionItem(line_id=CANVAS, sku="CANVAS-3040", name="Canvas print", quantity=1, unit_price="20.00"),
        ],
        packing_note=packing_note,
    )


def adapter(server, **kwargs):
    return PrintfulAdapter(base_url=server.url, token=kwargs.pop("token", server.token),
                           variant_map=kwargs.pop("variant_map", {"MUG-11": 1320}), **kwargs)


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setattr(printful_module, "TIMEOUT", (2, 0.3))


# -- Printful: submitting -----------------------------------------------------------------------------------


def test_submit_creates_a_confirmed_order_with_our_external_id(printful):
    # Given the adapter of a provider that confirms orders at once
    pf = adapter(printful, confirm=True)

    # When an order with a personalised mug and a canvas is submitted
    remote = pf.submit(production(packing_note="Gift: no prices please"))

    # Then Printful has one pending order under our external id
    assert (remote.remote_id, remote.external_id, remote.status) == ("90000001", "shop-17", "pending")
    assert printful.created == 1
    assert printful.requests == [("POST", "/orders", {"confirm": "true"})]
    order = printful.order("shop-17")
    assert order["recipient"] == RECIPIENT
    assert order["shipping"] == "STANDARD"
    assert order["packing_slip"] == {"message": "Gift: no prices please"}
    # with the mug as a catalog variant with its print file, the canvas by its SKU, each under its line id
    assert [(i["external_id"], i["variant_id"], i["external_variant_id"], i["quantity"], i["name"], i["retail_price"],
             [f["url"] for f in i["files"]]) for i in order["items"]] == [
        ("171", 1320, None, 3, "Photo mug", "9.50", [MUG_FILE]),
        ("172", 0, "CANVAS-3040", 1, "Canvas print", "20.00", []),
    ]
    assert remote.raw == order


def test_submit_without_confirming_leaves_a_draft(printful):
    pf = adapter(printful, confirm=False)

    remote = pf.submit(production())

    assert (remote.status, printful.order("shop-17")["status"]) == ("draft", "draft")
    assert printful.requests == [("POST", "/orders", {"confirm": "false"})]
    assert printful.order("shop-17")["packing_slip"] is None


def test_a_second_order_with_the_same_external_id_is_refused_as_a_duplicate(printful):
    # Given an order Printful already has
    pf = adapter(printful)
    pf.submit(production())

    # When the same external id is sent again
    with pytest.raises(ProviderDuplicateError) as caught:
        pf.submit(production())

    # Then Printful refuses it in its error shape and keeps one order
    assert (caught.value.message, caught.value.status, caught.value.retryable) == (
        "Order with this External ID already exists", 400, False)
    assert caught.value.response == {"code": 400, "result": "Order with this External ID already exists",
                                     "error": {"reason": "BadRequest",
                                               "message": "Order with this External ID already exists"}}
    assert printful.created == 1


def test_an_address_printful_refuses_is_a_rejection_with_its_message(printful):
    pf = adapter(printful)

    with pytest.raises(ProviderRejectedError) as caught:
        pf.submit(production(recipient={**RECIPIENT, "address1": ""}))

    assert type(caught.value) is ProviderRejectedError
    assert (str(caught.value), caught.value.status, caught.value.retryable, caught.value.outcome_unknown) == (
        "Recipient: Address is missing", 400, False, False)
    assert printful.created == 0


def test_a_us_address_without_state_is_refused(printful):
    pf = adapter(printful)

    with pytest.raises(ProviderRejectedError) as caught:
        pf.submit(production(recipient={**RECIPIENT, "country_code": "US", "city": "Portland", "zip": "97201"}))

    assert str(caught.value) == "Recipient: State code is missing for country US"
    assert printful.created == 0


def test_a_wrong_api_key_is_refused_and_not_retried(printful):
    pf = adapter(printful, token="pf-revoked-token")

    with pytest.raises(ProviderRejectedError) as caught:
        pf.submit(production())

    assert str(caught.value) == "The provider refused our API key (HTTP 401): The access token provided is invalid"
    assert (caught.value.status, caught.value.retryable, caught.value.outcome_unknown) == (401, False, False)
    assert caught.value.response == {"code": 401, "result": "The access token provided is invalid",
                                     "error": {"reason": "Unauthorized",
                                               "message": "The access token provided is invalid"}}
    assert printful.created == 0


def test_without_an_api_key_nothing_is_sent(printful):
    pf = adapter(printful, token="")

    with pytest.raises(ProviderRejectedError) as caught:
        pf.submit(production())

    assert str(caught.value) == "No API key: set the environment variable named in the provider settings."
    assert printful.requests == []


def test_a_500_is_retryable_and_its_outcome_unknown(printful):
    # Given Printful failing once with its JSON error
    printful.fail_next(status=500)
    pf = adapter(printful)

    # When an order is submitted
    with pytest.raises(ProviderRetryableError) as caught:
        pf.submit(production())

    # Then the error says try again, and that Printful may have made the order
    assert (str(caught.value), caught.value.status, caught.value.outcome_unknown) == (
        "POST /orders: HTTP 500: Internal server error", 500, True)
    assert caught.value.response["error"] == {"reason": "InternalServerError", "message": "Internal server error"}
    assert printful.created == 0


def test_an_html_error_page_is_retryable(printful):
    printful.fail_next_with_html(status=502)
    pf = adapter(printful)

    with pytest.raises(ProviderRetryableError) as caught:
        pf.submit(production())

    assert str(caught.value) == ("POST /orders: HTTP 502, not JSON (an error page?): <!DOCTYPE html><html><head>"
                                 "<title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
                                 "</center><hr><center>cloudflare</center></body></html>")
    assert (caught.value.status, caught.value.outcome_unknown) == (502, True)
    assert caught.value.response == {"status": 502, "body": HTML_ERROR}
    assert printful.created == 0


def test_too_many_requests_is_retryable(printful):
    printful.fail_next(status=429, message="Too Many Requests")
    pf = adapter(printful)

    with pytest.raises(ProviderRetryableError) as caught:
        pf.submit(production())

    assert (str(caught.value), caught.value.outcome_unknown) == ("POST /orders: HTTP 429: Too Many Requests", False)
    assert printful.created == 0


def test_a_timeout_after_printful_made_the_order_leaves_the_outcome_unknown(printful, short_timeout):
    # Given Printful that makes the order and answers after our read timeout
    printful.hold_after_create = 3
    pf = adapter(printful)

    # When the order is submitted
    with pytest.raises(ProviderRetryableError) as caught:
        pf.submit(production())

    # Then we do not know, though Printful has it
    assert (str(caught.value), caught.value.outcome_unknown) == (
        "POST /orders: the provider did not answer in time", True)
    assert printful.created == 1
    # and a look-up finds the truth
    assert pf.lookup("shop-17").remote_id == "90000001"


def test_a_refused_connection_is_retryable_and_certainly_sent_nothing():
    pf = PrintfulAdapter(base_url="http://127.0.0.1:9", token="pf-token")

    with pytest.raises(ProviderRetryableError) as caught:
        pf.submit(production())

    assert (str(caught.value), caught.value.outcome_unknown) == (
        "POST /orders: connection to the provider failed", False)


# -- Printful: looking up, shipments, cancelling -------------------------------------------------------------


def test_lookup_by_external_id(printful):
    pf = adapter(printful)
    pf.submit(production())

    remote = pf.lookup("shop-17")

    assert (remote.remote_id, remote.external_id, remote.status) == ("90000001", "shop-17", "pending")
    assert printful.requests[-1] == ("GET", "/orders/@shop-17", {})


def test_lookup_of_an_order_printful_does_not_have_is_none(printful):
    pf = adapter(printful)

    assert pf.lookup("shop-404") is None
    assert printful.requests == [("GET", "/orders/@shop-404", {})]


def test_a_lookup_that_fails_is_retryable_without_doubt(printful):
    printful.fail_next(status=503, message="Service Unavailable")
    pf = adapter(printful)

    with pytest.raises(ProviderRetryableError) as caught:
        pf.lookup("shop-17")

    assert (str(caught.value), caught.value.outcome_unknown) == (
        "GET /orders/@shop-17: HTTP 503: Service Unavailable", False)


def test_shipments_come_with_our_line_ids(printful):
    # Given an order shipped in two parcels
    pf = adapter(printful)
    pf.submit(production())
    printful.add_shipment("shop-17", lines={MUGS: 2})
    printful.add_shipment("shop-17", carrier="UPS", service="UPS Standard", tracking_number="1Z999AA10123456784",
                          tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
                          ship_date=date(2026, 11, 21), lines={MUGS: 1, CANVAS: 1})

    # When its shipments are fetched
    shipments = pf.shipments("shop-17")

    # Then each parcel says what of which WooCommerce line it holds
    assert shipments == [
        RemoteShipment(remote_id="50001", carrier="DHL DHL Paket", tracking_number="00340434161234567890",
                       tracking_url="https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode="
                                    "00340434161234567890",
                       shipped_on=date(2026, 11, 20), lines={MUGS: 2}),
        RemoteShipment(remote_id="50002", carrier="UPS UPS Standard", tracking_number="1Z999AA10123456784",
                       tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
                       shipped_on=date(2026, 11, 21), lines={MUGS: 1, CANVAS: 1}),
    ]
    assert printful.order("shop-17")["status"] == "fulfilled"


def test_no_shipments_for_an_unshipped_or_unknown_order(printful):
    pf = adapter(printful)
    pf.submit(production())

    assert (pf.shipments("shop-17"), pf.shipments("shop-404")) == ([], [])


def test_cancel_a_pending_order(printful):
    pf = adapter(printful)
    pf.submit(production())

    remote = pf.cancel("shop-17")

    assert (remote.remote_id, remote.status) == ("90000001", "canceled")
    assert printful.order("shop-17")["status"] == "canceled"
    assert printful.requests[-1] == ("DELETE", "/orders/@shop-17", {})


def test_an_order_in_production_cannot_be_cancelled(printful):
    pf = adapter(printful)
    pf.submit(production())
    printful.set_status("shop-17", "inprocess")

    with pytest.raises(ProviderRejectedError) as caught:
        pf.cancel("shop-17")

    assert (str(caught.value), caught.value.status) == ("Order with status inprocess can not be canceled", 400)
    assert printful.order("shop-17")["status"] == "inprocess"


def test_the_printful_adapter_is_built_from_the_provider_settings(db, printful):
    provider = ProviderFactory(base_url=printful.url + "/", confirm_orders=False, variant_map={"MUG-11": 1320},
                               webhook_token="tok-3f9a")

    pf = adapter_for(provider)

    assert (type(pf), pf.base_url, pf.token, pf.confirm, pf.variant_map, pf.has_webhook, pf.supports_cancel) == (
        PrintfulAdapter, printful.url, printful.token, False, {"MUG-11": 1320}, True, True)
    assert pf.submit(production()).status == "draft"


def test_a_printful_provider_without_base_url_talks_to_printful(db, monkeypatch):
    monkeypatch.delenv("PRINTFUL_TEST_TOKEN", raising=False)
    provider = ProviderFactory(base_url="", credentials_env="PRINTFUL_TEST_TOKEN")

    pf = adapter_for(provider)

    assert (pf.base_url, pf.token, pf.has_webhook) == ("https://api.printful.com", "", False)


# -- file drop -----------------------------------------------------------------------------------------------


@pytest.fixture
def print_files(tmp_path):
    renders = tmp_path / "renders"
    renders.mkdir()
    front, back = renders / "17-171-front.pdf", renders / "17-171-back.png"
    front.write_bytes(b"%PDF-1.7 front of the mug")
    back.write_bytes(b"\x89PNG back of the mug")
    return [str(front), str(back)]


def drop_order(files, **kwargs):
    return production(mug_files=files, **kwargs)


def test_file_drop_writes_one_zip_with_files_packing_slip_and_order_data(tmp_path, print_files):
    # Given a print room's drop folder that does not exist yet
    folder = tmp_path / "print-room" / "incoming"
    drop = FileDropAdapter(folder=str(folder))

    # When an order is submitted
    remote = drop.submit(drop_order(print_files, packing_note="Gift wrap"))

    # Then one ZIP named after our external id holds the files, the packing slip and the order data
    assert remote == RemoteOrder(remote_id="shop-17", external_id="shop-17", status="dropped")
    assert sorted(os.listdir(folder)) == ["shop-17.zip"]
    with zipfile.ZipFile(folder / "shop-17.zip") as archive:
        assert archive.namelist() == ["files/171-1-17-171-front.pdf", "files/171-2-17-171-back.png",
                                      "packing_slip.html", "order.json"]
        assert archive.read("files/171-1-17-171-front.pdf") == b"%PDF-1.7 front of the mug"
        assert archive.read("files/171-2-17-171-back.png") == b"\x89PNG back of the mug"
        slip = archive.read("packing_slip.html").decode()
        data = json.loads(archive.read("order.json"))
    assert "<h1>Order #17</h1>" in slip
    assert "<address>Ben Schmidt<br><br>Hauptstraße 2 <br>1010 Wien <br>AT</address>" in slip
    assert "<tr><td>MUG-11</td><td>Photo mug</td><td>3</td></tr>" in slip
    assert "<tr><td>CANVAS-3040</td><td>Canvas print</td><td>1</td></tr>" in slip
    assert "<p>Gift wrap</p>" in slip
    assert data == {
        "external_id": "shop-17", "number": "17", "recipient": RECIPIENT,
        "items": [{"line_id": MUGS, "sku": "MUG-11", "name": "Photo mug", "quantity": 3, "files": print_files},
                  {"line_id": CANVAS, "sku": "CANVAS-3040", "name": "Canvas print", "quantity": 1, "files": []}],
    }


def test_file_drop_renames_a_complete_zip_into_place(tmp_path, print_files, monkeypatch):
    # Given a watcher of the rename that writes the ZIP into the folder
    folder = tmp_path / "drop"
    seen = []
    real_replace = os.replace

    def watching_replace(source, target):
        with zipfile.ZipFile(source) as archive:
            seen.append((os.path.dirname(source) == str(folder), os.path.exists(target), archive.testzip(),
                         len(archive.namelist())))
        real_replace(source, target)

    monkeypatch.setattr(file_drop.os, "replace", watching_replace)

    # When an order is dropped
    FileDropAdapter(folder=str(folder)).submit(drop_order(print_files))

    # Then the complete ZIP was written beside the target and renamed in one step
    assert seen == [(True, False, None, 4)]
    assert os.listdir(folder) == ["shop-17.zip"]


def test_file_drop_leaves_nothing_behind_when_a_file_is_missing(tmp_path, print_files):
    folder = tmp_path / "drop"
    drop = FileDropAdapter(folder=str(folder))

    with pytest.raises(ProviderRejectedError) as caught:
        drop.submit(drop_order([print_files[0], str(tmp_path / "renders" / "gone.pdf")]))

    assert str(caught.value) == f"Production file {tmp_path / 'renders' / 'gone.pdf'} cannot be read: " \
                                "No such file or directory"
    assert os.listdir(folder) == []
    assert drop.lookup("shop-17") is None


def test_file_drop_downloads_production_files_from_urls(tmp_path, httpserver):
    httpserver.expect_request("/renders/17-171-front.pdf").respond_with_data(b"%PDF-1.7 from the render server")
    drop = FileDropAdapter(folder=str(tmp_path))

    drop.submit(drop_order([httpserver.url_for("/renders/17-171-front.pdf") + "?v=3"]))

    with zipfile.ZipFile(tmp_path / "shop-17.zip") as archive:
        assert archive.read("files/171-1-17-171-front.pdf") == b"%PDF-1.7 from the render server"


def test_file_drop_retries_when_the_file_server_fails(tmp_path, httpserver):
    httpserver.expect_request("/renders/17.pdf").respond_with_data("busy", status=503)
    drop = FileDropAdapter(folder=str(tmp_path))
    url = httpserver.url_for("/renders/17.pdf")

    with pytest.raises(ProviderRetryableError) as caught:
        drop.submit(drop_order([url]))

    assert str(caught.value) == f"Production file {url}: HTTP 503"
    assert os.listdir(tmp_path) == []


def test_file_drop_submitted_twice_keeps_the_first_zip(tmp_path, print_files):
    folder = tmp_path / "drop"
    drop = FileDropAdapter(folder=str(folder))
    drop.submit(drop_order(print_files))
    first = (folder / "shop-17.zip").read_bytes()

    remote = drop.submit(drop_order(print_files[:1]))

    assert remote.status == "dropped"
    assert (folder / "shop-17.zip").read_bytes() == first
    assert os.listdir(folder) == ["shop-17.zip"]


def test_file_drop_lookup_shipments_and_cancel(tmp_path, print_files):
    folder = tmp_path / "drop"
    drop = FileDropAdapter(folder=str(folder))
    drop.submit(drop_order(print_files))

    assert drop.lookup("shop-17") == RemoteOrder(remote_id="shop-17", external_id="shop-17", status="dropped")
    assert drop.lookup("shop-18") is None
    assert drop.shipments("shop-17") == []

    assert drop.cancel("shop-17") == RemoteOrder(remote_id="shop-17", external_id="shop-17", status="cancelled")
    assert os.listdir(folder) == []
    assert drop.lookup("shop-17") is None


def test_file_drop_packing_slip_escapes_what_customers_typed(tmp_path):
    drop = FileDropAdapter(folder=str(tmp_path))

    drop.submit(production(mug_files=(), recipient={**RECIPIENT, "name": "<script>alert(1)</script>"},
                           packing_note="Tom & Jerry"))

    with zipfile.ZipFile(tmp_path / "shop-17.zip") as archive:
        slip = archive.read("packing_slip.html").decode()
    assert "<script>" not in slip
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in slip
    assert "<p>Tom &amp; Jerry</p>" in slip


def test_a_file_drop_provider_needs_a_folder(db):
    provider = ProviderFactory(kind="file_drop", folder="")

    with pytest.raises(ProviderRejectedError) as caught:
        adapter_for(provider)

    assert str(caught.value) == "No drop folder is set for this provider."


def test_the_file_drop_adapter_is_built_from_the_provider_settings(db, tmp_path):
    provider = ProviderFactory(kind="file_drop", folder=str(tmp_path / "drop"))

    drop = adapter_for(provider)

    assert (type(drop), drop.folder, drop.supports_cancel, drop.has_webhook) == (
        FileDropAdapter, tmp_path / "drop", True, False)


# -- which provider makes what -------------------------------------------------------------------------------


@pytest.mark.parametrize(("rules", "sku", "makes"), [
    ("*", "MUG-11", True),
    ("*", "", True),
    ("MUG-11", "MUG-11", True),
    ("MUG-11", "MUG-15", False),
    ("MUG-*", "MUG-15", True),
    ("MUG-*", "MUG", False),
    ("MUG-*", "mug-15", False),
    ("MUG-*", "CANVAS-3040", False),
    ("MUG-*\n  CANVAS-*  \n\n", "CANVAS-3040", True),
    ("", "MUG-11", False),
    ("   \n", "", False),
])
def test_provider_makes_the_skus_of_its_rules(rules, sku, makes):
    assert ProviderFactory.build(skus=rules).makes(sku) is makes


def test_provider_sku_rules_skip_blank_lines():
    assert ProviderFactory.build(skus=" MUG-*\n\nCANVAS-3040 \n").sku_rules() == ["MUG-*", "CANVAS-3040"]
