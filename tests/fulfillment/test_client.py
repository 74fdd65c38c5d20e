"""WooClient against a real local HTTP server speaking WooCommerce's API (OAuth1 over plain http)."""

import socket
import time
import traceback

import pytest
import requests

from fulfillment.integrations.woocommerce.client import (
    PER_PAGE,
    WooAuthError,
    WooClient,
    WooError,
    WooRequestError,
    WooRetryableError,
)
from tests.woo_payloads import order_payload

HTML_503 = "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>"


@pytest.fixture
def sleeps():
    """The pauses the client took between attempts: one per retry."""
    return []


def make_client(woo, sleeps, **kwargs):
    options = {"base_url": woo.url, "consumer_key": woo.consumer_key, "consumer_secret": woo.consumer_secret,
               "retry_base": 0, "sleep": sleeps.append, **kwargs}
    return WooClient(**options)


@pytest.fixture
def client(woo, sleeps):
    return make_client(woo, sleeps)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leaks(exc, *secrets):
    """Every text an error shows in a message, a log line or a traceback."""
    texts = [str(exc), repr(exc), exc.message, str(exc.body), "".join(traceback.format_exception(exc))]
    return [secret for secret in secrets for text in texts if secret in text]


# -- paging -------------------------------------------------------------------------------------------


def test_pages_through_all_orders_100_at_a_time(woo, client):
    # given a shop with 250 orders
    woo.add_orders([order_payload(i) for i in range(1, 251)])

    # when
    pages = list(client.iter_order_pages({"orderby": "id", "order": "asc"}))

    # then three signed requests, 100 a page, following X-WP-TotalPages
    assert [(p.number, p.total_pages, p.total, len(p.items)) for p in pages] == [
        (1, 3, 250, 100), (2, 3, 250, 100), (3, 3, 250, 50)]
    assert [o["id"] for p in pages for o in p.items] == list(range(1, 251))
    assert woo.count("GET", "orders") == 3
    assert [params for _, _, params in woo.requests] == [
        {"orderby": "id", "order": "asc", "per_page": str(PER_PAGE), "page": str(n)} for n in (1, 2, 3)]


def test_an_exact_multiple_of_100_needs_no_extra_request(woo, client):
    # given
    woo.add_orders([order_payload(i) for i in range(1, 201)])

    # when
    pages = list(client.iter_order_pages({}))

    # then
    assert [len(p.items) for p in pages] == [100, 100]
    assert woo.count("GET", "orders") == 2


def test_an_empty_shop_is_one_empty_page(woo, client):
    # when
    pages = list(client.iter_order_pages({}))

    # then
    assert [(p.number, p.total_pages, p.total, p.items) for p in pages] == [(1, 0, 0, [])]
    assert woo.count("GET", "orders") == 1


def test_filters_are_sent_as_strings(woo, client):
    # given
    woo.add_orders([order_payload(i) for i in (5, 6, 7)])

    # when
    [page] = client.iter_order_pages({"include": "5,7", "orderby": "id", "order": "asc"})

    # then
    assert [o["id"] for o in page.items] == [5, 7]
    assert woo.requests[0][2]["include"] == "5,7"


def test_without_the_total_pages_header_pages_are_asked_for_while_they_come_full(woo, client):
    # given a shop behind a host that drops WooCommerce's X-WP-* headers, with 250 orders
    woo.add_orders([order_payload(i) for i in range(1, 251)])
    woo.hide_paging_headers = True

    # when
    pages = list(client.iter_order_pages({"orderby": "id", "order": "asc"}))

    # then every page is read, and the totals are unknown
    assert [(p.number, p.total_pages, p.total, len(p.items)) for p in pages] == [
        (1, None, None, 100), (2, None, None, 100), (3, None, None, 50)]
    assert [o["id"] for p in pages for o in p.items] == list(range(1, 251))
    assert woo.count("GET", "orders") == 3


def test_without_the_header_a_last_full_page_ends_at_the_page_past_it(woo, client, sleeps):
    # given 200 orders and no paging headers: page 3 does not exist (WordPress answers 400)
    woo.add_orders([order_payload(i) for i in range(1, 201)])
    woo.hide_paging_headers = True

    # when
    pages = list(client.iter_order_pages({}))

    # then two pages, one request more to find the end, no error and no retry
    assert [len(p.items) for p in pages] == [100, 100]
    assert [params["page"] for _, _, params in woo.requests] == ["1", "2", "3"]
    assert sleeps == []


def test_without_the_header_an_empty_shop_is_one_empty_page(woo, client):
    woo.hide_paging_headers = True

    pages = list(client.iter_order_pages({}))

    assert [(p.number, p.total_pages, p.total, p.items) for p in pages] == [(1, None, None, [])]
    assert woo.count("GET", "orders") == 1


def test_a_page_past_the_last_one_is_still_an_error_on_page_1(woo, client):
    # a 400 for page 1 is not the end of a list: it is a request WooCommerce refused
    woo.fail_next(status=400, body={"code": "rest_post_invalid_page_number", "message": "The page number requested "
                                    "is larger than the number of pages available.", "data": {"status": 400}})

    with pytest.raises(WooRequestError) as error:
        list(client.iter_order_pages({}))

    assert error.value.code == "rest_post_invalid_page_number"


# -- authentication --------------------------------------------------------------------------------------


def test_signed_requests_over_plain_http_are_accepted(woo, client):
    # given
    woo.add_orders([order_payload(17)])

    # when
    order = client.get_order(17)

    # then
    assert order["id"] == 17
    assert woo.requests == [("GET", "orders/17", {})]


def test_the_fake_shop_refuses_unsigned_requests(woo):
    # given: the guard that makes the test above mean something
    woo.add_orders([order_payload(17)])

    # when
    response = requests.get(f"{woo.url}/wp-json/wc/v3/orders/17", timeout=5)

    # then
    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_cannot_view"
    assert woo.requests == []


def test_a_wrong_secret_is_an_auth_error_with_woocommerce_reason(woo, sleeps):
    # given
    woo.add_orders([order_payload(17)])
    client = make_client(woo, sleeps, consumer_secret="cs_wrong_secret_000000")

    # when
    with pytest.raises(WooAuthError) as error:
        client.get_order(17)

    # then not retried, and the reason is WooCommerce's own
    exc = error.value
    assert (exc.status, exc.code, exc.retryable) == (401, "woocommerce_rest_authentication_error", False)
    assert str(exc) == ("GET orders/17: HTTP 401 woocommerce_rest_authentication_error: "
                        "Invalid signature - provided signature does not match.")
    assert sleeps == []
    assert woo.requests == []


def test_an_unknown_key_is_an_auth_error(woo, sleeps):
    # given
    client = make_client(woo, sleeps, consumer_key="ck_revoked_1111111111")

    # when
    with pytest.raises(WooAuthError) as error:
        client.get_order(17)

    # then
    assert (error.value.code, error.value.message) == (
        "woocommerce_rest_authentication_error",
        "GET orders/17: HTTP 401 woocommerce_rest_authentication_error: Consumer key is invalid.")
    assert sleeps == []


def test_a_403_is_an_auth_error(woo, client, sleeps):
    # given a key with read permission only, used to write
    woo.fail_next(status=403, body={"code": "woocommerce_rest_cannot_edit",
                                    "message": "Sorry, you are not allowed to edit this resource.",
                                    "data": {"status": 403}})

    # when
    with pytest.raises(WooAuthError) as error:
        client.update_order(17, {"status": "completed"})

    # then
    assert (error.value.status, error.value.code) == (403, "woocommerce_rest_cannot_edit")
    assert sleeps == []
    assert woo.failures == []


# -- retries -------------------------------------------------------------------------------------------------


def test_retries_a_503_then_succeeds(woo, client, sleeps):
    # given a shop that is down for two answers
    woo.add_orders([order_payload(17)])
    woo.fail_next(2, status=503)

    # when
    order = client.get_order(17)

    # then three attempts: two failed, one served by the shop
    assert order["id"] == 17
    assert sleeps == [0, 0]
    assert woo.failures == []
    assert woo.count("GET", "orders/17") == 1


def test_an_html_error_page_is_retryable_and_its_body_is_kept(woo, sleeps):
    # given
    client = make_client(woo, sleeps, max_retries=0)
    woo.fail_next(status=503)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.get_order(17)

    # then
    exc = error.value
    assert (exc.status, exc.code, exc.retryable) == (503, "", True)
    assert exc.body == HTML_503
    assert str(exc) == f"GET orders/17: HTTP 503, the answer is not JSON (an error page?): {HTML_503}"
    assert sleeps == []


def test_an_html_page_with_status_200_is_retryable(woo, client, sleeps):
    # given a host's maintenance page answered with 200, then the real answer
    woo.add_orders([order_payload(17)])
    woo.fail_next(status=200, body="<html><body>\n  Briefly unavailable for scheduled maintenance.\n</body></html>")

    # when
    order = client.get_order(17)

    # then
    assert order["id"] == 17
    assert sleeps == [0]


def test_a_long_html_page_is_cut_in_the_message_but_kept_in_the_body(woo, sleeps):
    # given
    client = make_client(woo, sleeps, max_retries=0)
    page = "<html><body>" + "x" * 3000 + "</body></html>"
    woo.fail_next(status=502, body=page)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.get_order(17)

    # then
    assert error.value.message == f"GET orders/17: HTTP 502, the answer is not JSON (an error page?): {page[:200]}"
    assert error.value.body == page[:2000]


def test_a_429_is_retried_after_the_time_the_shop_asks(woo, client, sleeps):
    # given a firewall throttling us
    woo.add_orders([order_payload(17)])
    woo.fail_next(status=429, body={"code": "too_many_requests", "message": "Slow down", "data": {"status": 429}},
                  headers={"Retry-After": "7"})

    # when
    order = client.get_order(17)

    # then
    assert order["id"] == 17
    assert sleeps == [7.0]


def test_a_429_html_page_is_retried_and_a_long_retry_after_is_capped(woo, client, sleeps):
    # given
    woo.add_orders([order_payload(17)])
    woo.fail_next(status=429, body="<html>Too Many Requests</html>", headers={"Retry-After": "3600"})
    woo.fail_next(status=429, body="<html>Too Many Requests</html>")

    # when
    client.get_order(17)

    # then
    assert sleeps == [60, 0]


def test_wordpress_maintenance_mode_is_waited_out_as_it_asks(woo, client, sleeps):
    # given a shop updating its plugins: WordPress answers 503 with Retry-After during maintenance
    woo.add_orders([order_payload(17)])
    woo.fail_next(status=503, body="<h1>Briefly unavailable for scheduled maintenance. Check back in a minute.</h1>",
                  headers={"Retry-After": "30"})
    woo.fail_next(status=503, body={"code": "maintenance", "message": "Down", "data": {"status": 503}},
                  headers={"Retry-After": "600"})

    # when
    order = client.get_order(17)

    # then
    assert order["id"] == 17
    assert sleeps == [30.0, 60]


def test_backs_off_exponentially_between_attempts(woo, sleeps):
    # given
    client = make_client(woo, sleeps, retry_base=1, max_retries=3)
    woo.add_orders([order_payload(17)])
    woo.fail_next(3, status=503)

    # when
    client.get_order(17)

    # then each pause doubles, with at most a quarter of jitter
    assert len(sleeps) == 3
    for attempt, pause in enumerate(sleeps):
        assert 2 ** attempt <= pause <= 2 ** attempt * 1.25


def test_gives_up_after_max_retries(woo, sleeps):
    # given a shop down for longer than we retry
    client = make_client(woo, sleeps, max_retries=2)
    woo.add_orders([order_payload(17)])
    woo.fail_next(5, status=503)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.get_order(17)

    # then 3 attempts, 2 pauses; the shop itself never answered
    assert error.value.status == 503
    assert sleeps == [0, 0]
    assert len(woo.failures) == 2
    assert woo.requests == []


def test_a_json_500_without_a_client_error_inside_is_retryable(woo, client, sleeps):
    # given a PHP fatal error answered as WordPress's JSON
    woo.add_orders([order_payload(17)])
    woo.fail_next(status=500, body={"code": "internal_server_error", "message": "There has been a critical error.",
                                    "data": {"status": 500}})

    # when
    order = client.get_order(17)

    # then
    assert order["id"] == 17
    assert sleeps == [0]


# -- terminal errors ------------------------------------------------------------------------------------


def test_an_invalid_parameter_is_not_retried(woo, client, sleeps):
    # when
    with pytest.raises(WooRequestError) as error:
        client.request("GET", "orders", params={"per_page": 101})

    # then
    exc = error.value
    assert not isinstance(exc, WooRetryableError)
    assert (exc.status, exc.code, exc.retryable) == (400, "rest_invalid_param", False)
    assert str(exc) == "GET orders: HTTP 400 rest_invalid_param: Invalid parameter(s): per_page"
    assert woo.count("GET", "orders") == 1
    assert sleeps == []


def test_an_unknown_order_is_not_retried(woo, client, sleeps):
    # when
    with pytest.raises(WooRequestError) as error:
        client.get_order(999)

    # then
    assert (error.value.status, error.value.code) == (404, "woocommerce_rest_shop_order_invalid_id")
    assert woo.count("GET", "orders/999") == 1
    assert sleeps == []


def test_a_refund_error_sent_as_http_500_is_a_request_error(woo, client, sleeps):
    # given WooCommerce answers refund errors with HTTP 500 and "data": 400
    woo.add_orders([order_payload(17, total="40.08")])

    # when
    with pytest.raises(WooRequestError) as error:
        client.request("POST", "orders/17/refunds", data={"amount": "100.00", "api_refund": False})

    # then
    exc = error.value
    assert not isinstance(exc, WooRetryableError)
    assert (exc.status, exc.code) == (500, "woocommerce_rest_cannot_create_order_refund")
    assert str(exc) == ("POST orders/17/refunds: HTTP 500 woocommerce_rest_cannot_create_order_refund: "
                        "Invalid refund amount.")
    assert woo.count("POST", "orders/17/refunds") == 1
    assert sleeps == []
    assert woo.refunds == {}


def test_a_refund_is_created(woo, client):
    # given
    woo.add_orders([order_payload(17, total="40.08")])

    # when
    body, _ = client.request("POST", "orders/17/refunds", data={"amount": "10.00", "reason": "Damaged",
                                                                  "api_refund": False})

    # then
    assert (body["amount"], body["reason"], body["refunded_payment"]) == ("10.00", "Damaged", False)
    assert woo.orders[17]["refunds"][0] == {"id": body["id"], "reason": "Damaged", "total": "-10.00"}


# -- the network --------------------------------------------------------------------------------------------


def test_connection_refused_is_retryable(sleeps):
    # given nothing listens on the shop's port
    port = closed_port()
    client = WooClient(base_url=f"http://127.0.0.1:{port}", consumer_key="ck_test_0123456789abcdef",
                       consumer_secret="cs_test_fedcba9876543210", retry_base=0, max_retries=1, sleep=sleeps.append)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.get_order(17)

    # then
    assert str(error.value) == f"GET orders/17: cannot connect to 127.0.0.1:{port}"
    assert error.value.status is None
    assert sleeps == [0]


def test_a_timeout_is_retryable(woo, sleeps):
    # given a shop slower than our timeout
    woo.add_orders([order_payload(17)])
    woo.delay = 0.5
    client = make_client(woo, sleeps, timeout=0.1, max_retries=1)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.get_order(17)

    # then
    host = woo.url.removeprefix("http://")
    assert str(error.value) == f"GET orders/17: {host} did not answer within 0.1 s"
    assert sleeps == [0]


def test_a_post_is_not_sent_again_after_a_timeout(woo, sleeps):
    # given a shop that makes the note but answers after our timeout
    woo.add_orders([order_payload(17)])
    woo.delay = 0.5
    client = make_client(woo, sleeps, timeout=0.1, max_retries=3)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.add_order_note(17, note="Printed.", customer_note=False)

    # then the client gave up at once: the shop may have made it, and a second note would be a copy
    assert error.value.unsent is False
    assert sleeps == []
    for _ in range(40):  # the shop finishes the request after we stopped waiting
        if woo.notes.get(17):
            break
        time.sleep(0.05)
    assert [n["note"] for n in woo.notes[17]] == ["Printed."]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_post_is_not_sent_again_after_an_error_the_shop_may_have_acted_before(woo, client, sleeps, status):
    # given a proxy or PHP error page after WordPress may have run the request
    woo.add_orders([order_payload(17)])
    woo.fail_next(1, status=status, body=f"<html><body><h1>{status}</h1></body></html>")

    # when
    with pytest.raises(WooRetryableError) as error:
        client.add_order_note(17, note="Printed.", customer_note=False)

    # then it is the caller's to look and decide
    assert (error.value.status, error.value.unsent) == (status, False)
    assert sleeps == []
    assert woo.count("POST", "orders/17/notes") == 0


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_turned_away_by_throttling_or_maintenance_is_sent_again(woo, client, sleeps, status):
    # given a host that turns the first request away before WordPress runs it
    woo.add_orders([order_payload(17)])
    woo.fail_next(1, status=status)

    # when
    note = client.add_order_note(17, note="Printed.", customer_note=True)

    # then it was sent again, and the shop made one note
    assert sleeps == [0]
    assert (note["note"], note["customer_note"]) == ("Printed.", True)
    assert [n["note"] for n in woo.notes[17]] == ["Printed."]


def test_a_post_is_sent_again_when_the_connection_was_refused(sleeps):
    # given nothing listens on the shop's port: the request never left
    port = closed_port()
    client = WooClient(base_url=f"http://127.0.0.1:{port}", consumer_key="ck_test_0123456789abcdef",
                       consumer_secret="cs_test_fedcba9876543210", retry_base=0, max_retries=2, sleep=sleeps.append)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.add_order_note(17, note="Printed.", customer_note=False)

    # then it was tried three times, and the error says the shop got nothing
    assert str(error.value) == f"POST orders/17/notes: cannot connect to 127.0.0.1:{port}"
    assert error.value.unsent is True
    assert sleeps == [0, 0]


def test_a_put_is_sent_again_after_a_timeout(woo, sleeps):
    # given a shop slow once: setting the same status twice is harmless
    woo.add_orders([order_payload(17)])
    client = make_client(woo, sleeps, timeout=0.3, max_retries=1)
    original = woo.update_order
    answers = []

    def slow_once(order, body):
        answers.append(body)
        if len(answers) == 1:
            time.sleep(0.6)
        return original(order, body)

    woo.update_order = slow_once

    # when
    order = client.update_order(17, {"status": "completed"})

    # then
    assert order["status"] == "completed"
    assert sleeps == [0]
    assert answers == [{"status": "completed"}, {"status": "completed"}]


def test_a_refusal_is_unsent(woo, client, sleeps):
    woo.add_orders([order_payload(17)])

    with pytest.raises(WooRequestError) as refused:
        client.update_order(17, {"status": "shipped"})

    assert refused.value.unsent is True


def test_notes_and_shipment_trackings_are_listed(woo, client):
    # given an order with a private note, a customer note and a tracking item
    woo.add_orders([order_payload(17)])
    client.add_order_note(17, note="Checked the print file.", customer_note=False)
    client.add_order_note(17, note="Your order has shipped.", customer_note=True)
    tracking = client.add_shipment_tracking(17, {"tracking_number": "1Z999AA10123456784", "tracking_provider": "UPS",
                                                 "date_shipped": "2026-11-20"})

    # when
    notes = client.list_order_notes(17)
    trackings = client.list_shipment_trackings(17)

    # then every note, newest first, with its UTC date, and the tracking item
    assert [(n["note"], n["customer_note"]) for n in notes] == [("Your order has shipped.", True),
                                                                ("Checked the print file.", False)]
    assert all(len(n["date_created_gmt"]) == 19 for n in notes)
    assert woo.requests[-2][2] == {"type": "any"}
    assert trackings == [tracking]


def test_the_timeout_comes_from_settings_by_default(woo, settings):
    # given
    settings.WOO_TIMEOUT_SECONDS = 12

    # when
    client = WooClient(base_url=woo.url, consumer_key="ck", consumer_secret="cs")

    # then
    assert client.api.timeout == 12


# -- secrets never show ------------------------------------------------------------------------------------


def test_no_error_or_repr_shows_the_keys(woo, sleeps):
    # given every way a call can fail
    key, secret = woo.consumer_key, woo.consumer_secret
    woo.add_orders([order_payload(17)])
    errors = []

    def failure(client, call):
        with pytest.raises(WooError) as error:
            call(client)
        errors.append(error.value)

    good = make_client(woo, sleeps, max_retries=0)
    failure(make_client(woo, sleeps, consumer_secret="cs_wrong_secret_000000"), lambda c: c.get_order(17))
    failure(make_client(woo, sleeps, consumer_key="ck_revoked_1111111111"), lambda c: c.get_order(17))
    failure(good, lambda c: c.request("GET", "orders", params={"per_page": 500}))
    failure(good, lambda c: c.get_order(404))
    woo.fail_next(status=503)
    failure(good, lambda c: c.get_order(17))
    woo.fail_next(status=429, body={"code": "too_many_requests", "message": "Slow down", "data": {"status": 429}})
    failure(good, lambda c: c.get_order(17))
    failure(good, lambda c: c.request("POST", "orders/17/refunds", data={"amount": "0"}))
    failure(WooClient(base_url=f"http://127.0.0.1:{closed_port()}", consumer_key=key, consumer_secret=secret,
                      max_retries=0), lambda c: c.get_order(17))
    woo.delay = 0.3
    failure(make_client(woo, sleeps, timeout=0.05, max_retries=0), lambda c: c.get_order(17))

    # then
    assert len(errors) == 9
    assert [leaks(exc, key, secret) for exc in errors] == [[]] * 9
    assert key not in repr(good) and secret not in repr(good)
    assert repr(good) == f"<WooClient {woo.url}>"


# -- https: Basic auth, or the keys in the query string -------------------------------------------------------------


@pytest.fixture
def https_woo(tmp_path, monkeypatch):
    """The fake shop on https, with a certificate the client trusts (REQUESTS_CA_BUNDLE)."""
    from tests.fakes.woocommerce import FakeWooCommerce, self_signed

    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    server = FakeWooCommerce().start(tls=(cert, key))
    yield server
    server.stop()


def test_over_https_the_keys_go_in_basic_auth(https_woo, sleeps):
    # given
    https_woo.add_orders([order_payload(17)])

    # when
    order = make_client(https_woo, sleeps).get_order(17)

    # then
    assert order["id"] == 17
    assert https_woo.url.startswith("https://")
    assert https_woo.auth_seen == ["basic"]


def test_a_host_that_strips_the_authorization_header_refuses_basic_auth(https_woo, sleeps):
    # given a host that drops the Authorization header before WooCommerce sees it
    https_woo.add_orders([order_payload(17)])
    https_woo.strip_authorization = True

    # when
    with pytest.raises(WooAuthError) as error:
        make_client(https_woo, sleeps).get_order(17)

    # then the request arrives anonymous
    assert str(error.value) == "GET orders/17: HTTP 401 woocommerce_rest_cannot_view: Sorry, you cannot list resources."
    assert https_woo.requests == []


@pytest.mark.django_db
def test_a_store_with_query_string_auth_sends_its_keys_as_query_parameters(https_woo, sleeps):
    # given a store on such a host, set to send its keys in the query string
    from tests.factories import StoreFactory

    https_woo.add_orders([order_payload(i) for i in (1, 2)])
    https_woo.strip_authorization = True
    store = StoreFactory(slug="qsa", base_url=https_woo.url, consumer_key=https_woo.consumer_key,
                         consumer_secret=https_woo.consumer_secret, query_string_auth=True)

    # when
    client = WooClient.for_store(store, retry_base=0, sleep=sleeps.append)
    pages = list(client.iter_order_pages({"orderby": "id", "order": "asc"}))
    client.add_order_note(1, note="Packed", customer_note=False)

    # then the shop read consumer_key and consumer_secret from the query string, for reads and writes
    assert [o["id"] for p in pages for o in p.items] == [1, 2]
    assert https_woo.auth_seen == ["query string", "query string"]
    assert https_woo.notes[1][0]["note"] == "Packed"


def test_query_string_auth_with_a_wrong_secret_is_an_auth_error_that_shows_no_key(https_woo, sleeps):
    # given
    client = make_client(https_woo, sleeps, consumer_secret="cs_wrong_secret_000000", query_string_auth=True)

    # when
    with pytest.raises(WooAuthError) as error:
        client.get_order(17)

    # then WooCommerce's reason, and neither key in anything the error shows
    assert str(error.value) == ("GET orders/17: HTTP 401 woocommerce_rest_authentication_error: "
                                "Consumer secret is invalid.")
    assert leaks(error.value, https_woo.consumer_key, "cs_wrong_secret_000000") == []


def test_query_string_auth_failing_on_the_network_shows_no_key(https_woo, sleeps):
    # given a shop slower than the timeout
    https_woo.delay = 0.3
    client = make_client(https_woo, sleeps, timeout=0.05, max_retries=0, query_string_auth=True)

    # when
    with pytest.raises(WooRetryableError) as error:
        client.get_order(17)

    # then
    assert leaks(error.value, https_woo.consumer_key, https_woo.consumer_secret) == []


def test_over_plain_http_query_string_auth_changes_nothing(woo, sleeps):
    # given (the woocommerce package signs with OAuth1 over http whatever the option says)
    woo.add_orders([order_payload(17)])

    # when
    make_client(woo, sleeps, query_string_auth=True).get_order(17)

    # then
    assert woo.auth_seen == ["oauth1"]
