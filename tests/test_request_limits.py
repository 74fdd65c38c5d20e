"""backoffice/request_limits.py: a body over a view's limit is refused with 413 before it is read whole."""

import io
import json
import logging

import pytest
from django.http import JsonResponse
from django.test import RequestFactory

from backoffice.numbers import whole_number
from backoffice.request_limits import body_limit, nested_deeper_than


class Counting(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        data = super().read(size)
        self.taken += len(data)
        return data


@body_limit("TEST_BODY_LIMIT")
def echo(request):
    return JsonResponse({"size": len(request.body), "posted": request.POST.get("a", "")})


@pytest.fixture
def limit(settings):
    settings.TEST_BODY_LIMIT = 1000
    return 1000


def post(data, **meta):
    request = RequestFactory().post("/echo/", data=data, content_type="application/json")
    request.environ["wsgi.input"] = stream = Counting(data)
    request._stream = stream
    request.META.update(meta)
    return request, stream


def test_a_body_within_the_limit_is_the_views_body(limit):
    request, _ = post(b"x" * 1000)
    assert json.loads(echo(request).content) == {"size": 1000, "posted": ""}


def test_a_content_length_over_the_limit_is_refused_before_anything_is_read(limit, caplog):
    # Given a request announcing 10 MB
    request, stream = post(b"x" * 5000, CONTENT_LENGTH=str(10 * 1024 * 1024))

    # When it reaches the view, then it is refused with 413, nothing of its body read, and logged
    with caplog.at_level(logging.WARNING, "backoffice.request_limits"):
        response = echo(request)
    assert response.status_code == 413 and stream.taken == 0
    assert "over the limit of 1000 bytes" in caplog.text and "TEST_BODY_LIMIT" in caplog.text


def test_a_chunked_body_is_read_up_to_the_limit_and_refused_once_past_it(limit, caplog):
    # Given a body without a length (Transfer-Encoding: chunked), far larger than the limit
    request, stream = post(b"x" * 100_000)
    del request.META["CONTENT_LENGTH"]
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"

    # Then it is refused once it grew past the limit: limit + 1 bytes read, no more
    with caplog.at_level(logging.WARNING, "backoffice.request_limits"):
        response = echo(request)
    assert response.status_code == 413 and stream.taken == 1001
    assert "grew past the limit" in caplog.text


def test_a_chunked_body_within_the_limit_is_read_whole_and_parsed(limit):
    # Django reads a body without a Content-Length as empty: the form is parsed from what was read
    request = RequestFactory().post("/echo/", data="a=b%C3%A9", content_type="application/x-www-form-urlencoded")
    request.environ["wsgi.input"] = request._stream = Counting(b"a=b%C3%A9")
    del request.META["CONTENT_LENGTH"]
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    assert json.loads(echo(request).content) == {"size": 9, "posted": "bé"}


@pytest.mark.parametrize("length", ["5000", "١٢", "12x"])
def test_a_body_short_of_its_length_or_a_length_that_is_no_number_is_refused_with_400(limit, length):
    # Given a client gone after 100 of its announced bytes, or a Content-Length of other digits
    request, _ = post(b"x" * 100, CONTENT_LENGTH=length if length != "5000" else "900")
    assert echo(request).status_code == 400


def test_nesting_is_measured_without_recursion():
    deep = json.loads('{"a":' * 5000 + "1" + "}" * 5000)
    assert nested_deeper_than(deep) and not nested_deeper_than({"a": [{"b": [1]}]}, 4)
    assert nested_deeper_than({"a": [{"b": [1]}]}, 3)


@pytest.mark.parametrize(("text", "number"), [("42", 42), (" 7 ", 7), ("١٢٣", None), ("²", None), ("", None),
                                              ("-1", None), ("9" * 19, None), (None, None), (12, None)])
def test_whole_numbers_are_ascii_digits_only(text, number):
    assert whole_number(text) == number
