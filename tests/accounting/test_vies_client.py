"""The VIES client against a local VIES REST API (tests.fakes.vies) over HTTP: valid, invalid, a member state
that does not answer (never "invalid"), and numbers refused before any request."""

from datetime import datetime, timezone

import pytest
import requests

from accounting.integrations.errors import AccountingRejectedError, AccountingRetryableError, VatIdFormatError
from accounting.integrations.vies import ViesClient, normalise_vat_id
from tests.fakes.vies import FakeVies


@pytest.fixture
def vies():
    server = FakeVies().start()
    yield server
    server.stop()


def test_a_registered_number_is_valid_with_the_name_and_address_vies_gives(vies):
    # Given a number typed the way customers type it
    checker = ViesClient(vies.url)

    # When it is checked
    result = checker.check("nl 8540.91.798.B01")

    # Then VIES was asked for the compact number and said it is registered, to whom, and when
    assert vies.requests == [("GET", "/ms/NL/vat/854091798B01")]
    assert (result.valid, result.country, result.number, result.vat_id) == (True, "NL", "854091798B01",
                                                                               "NL854091798B01")
    assert (result.name, result.address) == ("FOTOCADEAU NEDERLAND B.V.", "KEIZERSGRACHT 00123\n1015CJ AMSTERDAM")
    assert result.checked_at.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - result.checked_at).total_seconds()) < 60


def test_a_well_formed_number_that_is_not_registered_is_invalid(vies):
    result = ViesClient(vies.url).check("NL123456782B01")

    assert (result.valid, result.vat_id, result.name, result.address) == (False, "NL123456782B01", "", "")
    assert vies.requests == [("GET", "/ms/NL/vat/123456782B01")]


def test_a_member_state_that_gives_no_name_leaves_it_empty_not_dashes(vies):
    result = ViesClient(vies.url).check("DE 136 695 976")

    assert (result.valid, result.vat_id, result.name, result.address) == (True, "DE136695976", "", "")


def test_a_greek_number_is_asked_for_as_el(vies):
    result = ViesClient(vies.url).check("GR094259216")

    assert (result.valid, result.country, result.name) == (True, "EL", "ΦΩΤΟΓΡΑΦΙΚΑ ΑΕ")
    assert vies.requests == [("GET", "/ms/EL/vat/094259216")]


def test_an_unavailable_member_state_is_a_retryable_error_never_invalid(vies):
    # Given the Dutch register not answering VIES
    vies.unavailable.add("NL")

    # When a Dutch number is checked
    with pytest.raises(AccountingRetryableError) as caught:
        ViesClient(vies.url).check("NL854091798B01")

    # Then no verdict is given: try again later
    assert caught.value.retryable is True
    assert str(caught.value) == ("VIES could not check NL854091798B01 now (MS_UNAVAILABLE): the member state's "
                                 "register did not answer. Try again later; this says nothing about the number.")
    assert caught.value.response["userError"] == "MS_UNAVAILABLE"


@pytest.mark.parametrize("error, status", [("MS_UNAVAILABLE", 200), ("SERVICE_UNAVAILABLE", 500), ("TIMEOUT", 500),
                                           ("MS_MAX_CONCURRENT_REQ", 200), ("GLOBAL_MAX_CONCURRENT_REQ", 500)])
def test_the_services_own_failures_are_retryable(vies, error, status):
    vies.fail_next(error, status=status)

    with pytest.raises(AccountingRetryableError) as caught:
        ViesClient(vies.url).check("BE0403170701")

    assert (caught.value.retryable, caught.value.status) == (True, status)
    assert f"({error})" in str(caught.value)


def test_an_html_page_is_retryable(vies):
    vies.fail_next_with_html(status=503)

    with pytest.raises(AccountingRetryableError) as caught:
        ViesClient(vies.url).check("FR40303265045")

    assert caught.value.status == 503
    assert str(caught.value).startswith("VIES answered HTTP 503, not JSON (an error page?): <!DOCTYPE html>")


def test_vies_not_answering_in_time_is_retryable(vies):
    vies.hold = 5

    with pytest.raises(AccountingRetryableError) as caught:
        ViesClient(vies.url, timeout=(2, 0.3)).check("IT00743110157")

    assert str(caught.value) == "VIES did not answer in time about IT00743110157."


def test_a_blocked_number_is_refused_for_good_and_invalid_input_is_a_format_error(vies):
    vies.fail_next("VAT_BLOCKED", status=403)
    vies.fail_next("INVALID_INPUT", status=400)
    checker = ViesClient(vies.url)

    with pytest.raises(AccountingRejectedError) as blocked:
        checker.check("NL854091798B01")
    with pytest.raises(VatIdFormatError) as refused:
        checker.check("NL854091798B01")

    assert (str(blocked.value), blocked.value.retryable) == ("VIES refused to check NL854091798B01 (VAT_BLOCKED).",
                                                             False)
    assert (str(refused.value), refused.value.retryable) == (
        "NL854091798B01 is not a valid EU VAT number. VIES refused it as input.", False)


NOT_A_MEMBER_STATE = "It does not start with the code of an EU member state (NL, BE, DE, EL…)."


@pytest.mark.parametrize("typed, shown, problem", [
    ("NL12", "NL12", "It is not written the way its country writes VAT numbers."),
    ("NL 8540 91 798 C01", "NL 8540 91 798 C01", "It is not written the way its country writes VAT numbers."),
    ("NL854091799B01", "NL854091799B01", "Its check digits do not match: a typing error?"),
    ("US123456789", "US123456789", NOT_A_MEMBER_STATE),
    ("854091798B01", "854091798B01", NOT_A_MEMBER_STATE),
    ("", "''", NOT_A_MEMBER_STATE),
])
def test_a_number_in_no_member_states_format_is_refused_without_asking_vies(vies, typed, shown, problem):
    with pytest.raises(VatIdFormatError) as caught:
        ViesClient(vies.url).check(typed)

    assert (str(caught.value), caught.value.vat_id, caught.value.retryable) == (
        f"{shown} is not a valid EU VAT number. {problem}", typed, False)
    assert vies.requests == []


def test_normalising_keeps_only_the_country_and_the_number():
    assert normalise_vat_id(" be 0403.170.701 ") == ("BE", "0403170701")
    assert normalise_vat_id("el-094259216") == ("EL", "094259216")


def test_the_fake_also_speaks_vies_post_operation_whose_flag_is_valid(vies):
    # The client asks GET /ms/…; VIES's POST /check-vat-number answers the same with "valid" instead of "isValid"
    answer = requests.post(f"{vies.url}/check-vat-number", json={"countryCode": "NL", "vatNumber": "854091798B01"},
                           timeout=5).json()

    assert (answer["valid"], answer["countryCode"], answer["userError"], "isValid" in answer) == (
        True, "NL", "VALID", False)
