"""The Rewix client when the supplier fails: each fault becomes a typed error that says whether to try again, and
whether the supplier may have acted on a request whose answer was lost."""

import socket
from datetime import UTC, datetime

import pytest

from fulfillment.integrations.rewix import (
    Applied,
    DropshipOrder,
    Operation,
    Recipient,
    RewixClient,
    SupplierAuthError,
    SupplierDuplicateOrderError,
    SupplierError,
    SupplierRejectedError,
    SupplierRetryableError,
)
from tests.fakes.rewix import HTML_ERROR, SOLD, FakeRewix

SNEAKER_40 = "234225"
ORDER = DropshipOrder(key="1001", date=datetime(2026, 12, 5, 14, 30, tzinfo=UTC), items=((SNEAKER_40, 1),),
                      recipient=Recipient(name="Ben Schmidt", street="Hauptstraße 2", zip="1010", city="Wien",
                                          countrycode="AT", phone="+43 1 5550101"))
SHORT = (2, 0.3)  # connect, read: a held answer outlasts it


@pytest.fixture
def rewix():
    server = FakeRewix().start()
    yield server
    server.stop()


@pytest.fixture
def client(rewix):
    return RewixClient(rewix.url, api_key=rewix.api_key, password=rewix.password,
                       credentials_env="REWIX_SUPPLIER_PASSWORD")


@pytest.fixture
def impatient(rewix):
    """A client that stops waiting for an answer sooner than the fake holds it."""
    return RewixClient(rewix.url, api_key=rewix.api_key, password=rewix.password, timeout=SHORT)


def error_of(call, *args, **kwargs):
    with pytest.raises(SupplierError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- the platform's faults -------------------------------------------------------------------------------------------


def test_a_500_on_a_read_is_retryable_and_certainly_changed_nothing(rewix, client):
    rewix.fail_next(500)

    error = error_of(client.growing_order)

    assert type(error) is SupplierRetryableError
    assert (error.status, error.retryable, error.outcome_unknown) == (500, True, False)
    assert str(error) == ("Reading the growing order: the supplier had a fault (HTTP 500); it will be tried again "
                          "later. Internal Server Error")
    # and the next call works: the fault was passing
    assert client.growing_order().models == {}


def test_a_500_on_a_reservation_change_may_have_been_applied(rewix, client):
    rewix.fail_next(500)

    error = error_of(client.apply_operations, [Operation("set", SNEAKER_40, 1)])

    assert (type(error), error.status, error.outcome_unknown) == (SupplierRetryableError, 500, True)
    assert "may have made the change" in str(error)


@pytest.mark.parametrize("status", [200, 502, 503])
def test_an_html_page_instead_of_xml_is_retryable(rewix, client, status):
    rewix.fail_next_with_html(status)

    error = error_of(client.growing_order)

    assert (type(error), error.status, error.outcome_unknown) == (SupplierRetryableError, status, False)
    assert str(error) == (f"Reading the growing order: the supplier answered with a web page instead of its data "
                          f"(HTTP {status}), often a maintenance page; it will be tried again later.")
    assert error.body == HTML_ERROR


def test_an_html_page_instead_of_the_catalogue_json_is_retryable(rewix, client):
    rewix.fail_next_with_html(200)

    error = error_of(client.catalogue)

    assert (type(error), error.retryable) == (SupplierRetryableError, True)


def test_an_html_page_answering_an_order_leaves_its_outcome_unknown(rewix, client):
    rewix.fail_next_with_html(502)

    error = error_of(client.place_order, ORDER)

    assert (type(error), error.retryable, error.outcome_unknown) == (SupplierRetryableError, True, True)


def test_an_answer_that_is_not_xml_is_retryable(rewix, client):
    rewix.fail_next(200, body="OK")

    error = error_of(client.growing_order)

    assert (type(error), error.status) == (SupplierRetryableError, 200)


def test_429_asks_to_slow_down_and_a_post_turned_away_so_changed_nothing(rewix, client):
    rewix.fail_next(429, body="Too many requests")

    error = error_of(client.apply_operations, [Operation("set", SNEAKER_40, 1)])

    assert (type(error), error.status, error.retryable, error.outcome_unknown) == (
        SupplierRetryableError, 429, True, False)
    assert str(error) == ("Changing the reservations: the supplier asks us to slow down (HTTP 429); it will be tried "
                          "again later.")
    assert rewix.locked(SNEAKER_40) == 0


def test_406_is_a_rejection(rewix, client):
    rewix.fail_next(406, body="Not Acceptable")

    error = error_of(client.order_by_key, "1001")

    assert (type(error), error.status, error.retryable) == (SupplierRejectedError, 406, False)


def test_a_500_on_a_lookup_that_does_not_say_the_order_is_missing_is_a_fault_not_a_missing_order(rewix, client):
    # A wrong "missing" could make a caller place the order a second time
    rewix.fail_next(500, body="java.lang.NullPointerException")

    error = error_of(client.order_by_key, "1001")

    assert (type(error), error.status, error.retryable) == (SupplierRetryableError, 500, True)


# -- logins --------------------------------------------------------------------------------------------------------


def test_a_401_is_terminal_and_says_where_the_key_and_password_come_from(rewix, client):
    rewix.fail_next(401, body="Unauthorized")

    error = error_of(client.growing_order)

    assert (type(error), error.status, error.retryable, error.outcome_unknown) == (
        SupplierAuthError, 401, False, False)
    assert str(error) == ("Reading the growing order: the supplier refused our API key and password (HTTP 401). "
                          "Check the key and the password in REWIX_SUPPLIER_PASSWORD.")


def test_a_wrong_password_is_refused(rewix):
    client = RewixClient(rewix.url, api_key=rewix.api_key, password="not-the-password")

    error = error_of(client.catalogue)

    assert (type(error), error.status) == (SupplierAuthError, 401)
    assert str(error).endswith("Check the key and the password in the supplier's settings.")


def test_a_wrong_token_is_refused_with_a_message_about_the_token(rewix):
    client = RewixClient(rewix.url, api_key="eyJ.expired", auth="bearer", credentials_env="REWIX_SUPPLIER_TOKEN")

    error = error_of(client.order_by_key, "1001")

    assert type(error) is SupplierAuthError
    assert str(error) == ("Looking up the order 1001: the supplier refused our token (HTTP 401). Check the token in "
                          "REWIX_SUPPLIER_TOKEN.")


# -- lost answers --------------------------------------------------------------------------------------------------


def test_a_reservation_whose_answer_never_came_is_visible_afterwards_and_a_set_repeats_safely(rewix, client,
                                                                                               impatient):
    # Given the platform makes the reservation, then holds its answer longer than the client waits
    rewix.hold_next_change(5)

    # When 3 sneakers are set
    error = error_of(impatient.apply_operations, [Operation("set", SNEAKER_40, 3)])

    # Then the client cannot know whether it happened
    assert (type(error), error.retryable, error.outcome_unknown) == (SupplierRetryableError, True, True)
    assert str(error) == ("Changing the reservations: the supplier did not answer; it may have made the change. Look "
                          "at the growing order or the order before sending it again.")
    # and the growing order shows it did
    assert client.growing_order().locked(SNEAKER_40) == 3
    # sending the set again changes nothing
    again = client.apply_operations([Operation("set", SNEAKER_40, 3)])
    assert again.outcomes == (Applied(Operation("set", SNEAKER_40, 3), locked=3, available=9),)
    assert (rewix.locked(SNEAKER_40), rewix.availability(SNEAKER_40), rewix.count("POST", SOLD)) == (3, 9, 2)


def test_an_order_whose_answer_never_came_is_found_by_its_key_and_not_placed_twice(rewix, client, impatient):
    rewix.hold_next_change(5)

    error = error_of(impatient.place_order, ORDER)

    assert (type(error), error.outcome_unknown) == (SupplierRetryableError, True)
    found = client.order_by_key("1001")
    assert (found.order_id, found.status) == ("5100001", "booked")
    # a blind retry is refused by the platform, and it keeps one order
    assert type(error_of(client.place_order, ORDER)) is SupplierDuplicateOrderError
    assert list(rewix.orders) == ["1001"]


def test_a_read_that_times_out_is_retryable_and_changed_nothing(rewix, impatient):
    rewix.hold_next_read(5)

    error = error_of(impatient.growing_order)

    assert (type(error), error.retryable, error.outcome_unknown) == (SupplierRetryableError, True, False)
    assert str(error) == "Reading the growing order: the supplier did not answer in time."


def test_a_refused_connection_is_retryable_and_certainly_sent_nothing():
    # Given nothing listens on the port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RewixClient(f"http://127.0.0.1:{port}", api_key="k", password="p", timeout=SHORT)

    error = error_of(client.apply_operations, [Operation("set", SNEAKER_40, 1)])

    assert (type(error), error.retryable, error.outcome_unknown) == (SupplierRetryableError, True, False)
    assert str(error) == f"Changing the reservations: the connection to the supplier (127.0.0.1:{port}) failed."


def test_an_order_answer_without_an_order_id_leaves_the_outcome_unknown(rewix, client):
    # Given a platform that answers the order with an empty document
    rewix.fail_next(200, body="<root/>")

    error = error_of(client.place_order, ORDER)

    assert (type(error), error.retryable, error.outcome_unknown) == (SupplierError, False, True)
    assert str(error) == ("Placing the order 1001: the supplier's answer has no order id; look the order up by its "
                          "key before sending it again.")
