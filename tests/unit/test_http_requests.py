"""Reading requests: `If-Match` versions and JSON bodies, refused with the right status."""

import io
import json

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header
from werkzeug.test import EnvironBuilder

from crm_kernel.errors import BadRequest, PayloadTooLarge, PreconditionFailed
from crm_kernel.http import (
    ApiHandler,
    bound_body,
    content_disposition,
    expected_version,
    json_body,
    printable_name,
)


def request_with(body: bytes = b"", **headers):
    return EnvironBuilder(
        method="POST", path="/api/v1/contacts", data=body, headers=headers, content_type="application/json"
    ).get_request()


def if_match(value):
    return request_with(**{"If-Match": value})


@pytest.mark.parametrize(("header", "version"), [('"3"', 3), ('W/"3"', 3), ('"120"', 120), (' "7" ', 7)])
def test_if_match_names_the_expected_version(header, version):
    assert expected_version(if_match(header)) == version


def test_if_match_star_expects_no_particular_version():
    assert expected_version(if_match("*")) is None


def test_no_if_match_expects_no_particular_version():
    assert expected_version(request_with()) is None


@pytest.mark.parametrize("header", ["abc", '"v3"', '"-1"', '""', '"3", "4"', '"1.5"', '"²"'])
def test_an_if_match_that_is_not_one_of_our_etags_fails_the_precondition(header):
    with pytest.raises(PreconditionFailed):
        expected_version(if_match(header))


def test_a_json_object_body_is_returned_as_a_dict():
    body = {"first_name": "Ada", "tags": ["vip"]}

    assert json_body(request_with(json.dumps(body).encode())) == body


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_a_bad_request(raw):
    with pytest.raises(BadRequest, match="not valid JSON"):
        json_body(request_with(raw))


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b""])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(raw):
    with pytest.raises(BadRequest, match="JSON object"):
        json_body(request_with(raw))


def test_a_body_over_the_given_limit_is_too_large():
    raw = json.dumps({"body": "x" * 100}).encode()

    with pytest.raises(PayloadTooLarge):
        json_body(request_with(raw), max_bytes=len(raw) - 1)


def test_a_body_exactly_at_the_limit_is_accepted():
    raw = json.dumps({"body": "x" * 100}).encode()

    assert json_body(request_with(raw), max_bytes=len(raw)) == {"body": "x" * 100}


def test_the_body_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRM_MAX_BODY_BYTES", "16")

    with pytest.raises(PayloadTooLarge, match="16 bytes"):
        json_body(request_with(json.dumps({"body": "x" * 16}).encode()))


NASTY_NAMES = [
    'say "hi".txt',
    "report; filename=evil.exe",
    "split\r\nSet-Cookie: session=stolen.txt",
    "%0D%0Aencoded.txt",
    "Rechnung 100 €.pdf",
    "holiday 😀🌴.jpg",
    "back\\slash.txt",
]


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_a_download_name_never_adds_a_parameter_or_breaks_the_header(name):
    header = content_disposition("attachment", name)
    Headers().set("Content-Disposition", header)  # werkzeug refuses CR/LF in a header value
    assert header.isascii() and "\r" not in header and "\n" not in header
    disposition, params = parse_options_header(header)
    assert disposition == "attachment" and set(params) == {"filename"}  # filename* decoded into filename
    assert params["filename"] == printable_name(name)
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert not set(fallback) & set('"\\%;\r\n')


def test_an_ascii_name_reads_the_same_in_both_forms():
    assert content_disposition("inline", "kpis.csv") == "inline; filename=\"kpis.csv\"; filename*=UTF-8''kpis.csv"


def test_a_database_that_went_away_is_a_retryable_503_and_a_bad_query_stays_a_500():
    handler = ApiHandler("GET", "/things")
    gone = OperationalError("SELECT 1", {}, ConnectionRefusedError("the database restarts"))
    response = handler.response_from_exception(gone)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "application/problem+json"
    assert handler.response_from_exception(ProgrammingError("SELEC 1", {}, Exception("syntax"))).status_code == 500


def test_a_read_past_the_bound_of_a_chunked_body_is_a_413():
    request = EnvironBuilder(method="POST", path="/x", headers={"Transfer-Encoding": "chunked"}).get_request()
    request.environ["wsgi.input"] = io.BytesIO(b"x" * 2000)
    request.environ.pop("CONTENT_LENGTH", None)
    bound_body(request, 1000)
    with pytest.raises(PayloadTooLarge):
        request.get_data()


def chunked_request(body: bytes):
    request = EnvironBuilder(method="POST", path="/x", headers={"Transfer-Encoding": "chunked"}).get_request()
    request.environ["wsgi.input"] = io.BytesIO(body)
    request.environ.pop("CONTENT_LENGTH", None)
    return request


def test_a_chunked_body_may_be_read_its_slack_past_the_bound_and_the_413_names_the_bound():
    within = chunked_request(b"x" * 1001)
    bound_body(within, 1000, slack=1)
    past = chunked_request(b"x" * 1002)
    bound_body(past, 1000, slack=1)

    assert len(within.get_data()) == 1001
    with pytest.raises(PayloadTooLarge, match="limit of 1000 bytes"):
        past.get_data()
