"""The gateway's upload checks: size limits before and while reading, empty and missing files."""

import io
from urllib.parse import urlsplit

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from crm_kernel.errors import PayloadTooLarge, ValidationFailed
from crm_kernel.scope import Scope
from crm_kernel.signing import verified_caller
from gateway import documents_api, routing
from gateway.documents_api import FORM_ALLOWANCE, uploaded_file

LIMIT = 1000


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    monkeypatch.setenv("CRM_MAX_UPLOAD_BYTES", str(LIMIT))


def multipart(content: bytes, field: str = "file", chunked: bool = False) -> Request:
    environ = EnvironBuilder(method="POST", data={field: (io.BytesIO(content), "a.txt", "text/plain")}).get_environ()
    if chunked:  # no Content-Length: only counting while reading can stop it
        del environ["CONTENT_LENGTH"]
        environ["wsgi.input_terminated"] = True
    return Request(environ)


def test_a_file_within_the_limit_is_handed_over_whole():
    upload = uploaded_file(multipart(b"x" * LIMIT))
    assert upload.stream.read() == b"x" * LIMIT


def test_a_file_one_byte_over_the_limit_is_413():
    with pytest.raises(PayloadTooLarge):
        uploaded_file(multipart(b"x" * (LIMIT + 1)))


def test_a_declared_length_over_the_limit_is_413_before_reading():
    request = multipart(b"x")
    request.environ["CONTENT_LENGTH"] = str(LIMIT + FORM_ALLOWANCE + 1)
    request.environ["wsgi.input"] = io.BytesIO(b"")  # nothing would be there to read
    with pytest.raises(PayloadTooLarge):
        uploaded_file(request)


def test_a_body_without_length_is_counted_while_it_is_read_and_not_read_to_its_end():
    request = multipart(b"x" * (LIMIT + FORM_ALLOWANCE) * 4, chunked=True)
    with pytest.raises(PayloadTooLarge):
        uploaded_file(request)
    assert request.environ["wsgi.input"].tell() < (LIMIT + FORM_ALLOWANCE) * 2


def test_an_empty_or_missing_file_is_422_naming_file():
    for request in (multipart(b""), multipart(b"abc", field="document")):
        with pytest.raises(ValidationFailed) as raised:
            uploaded_file(request)
        assert list(raised.value.errors) == ["file"]


def test_an_uploads_blob_is_sent_with_the_query_it_was_signed_with(monkeypatch):
    """The documents service verifies the signature over the path and query as they arrive: the gateway
    must sign the query it sends (it once signed `/blobs` alone, and every upload was refused)."""
    sent = {}

    class Wire:  # what `routing.internal_http` puts on the wire
        def request(self, method, url, **kwargs):
            sent.update(method=method, url=url, **kwargs)
            return type("Answer", (), {"status_code": 200, "json": lambda self: {"sha256": "0" * 64, "size": 5}})()

    monkeypatch.setattr(routing, "_http", Wire())
    key, caller = b"k" * 32, Scope("u1", "agent", "d1", ("d1",))
    upload = multipart(b"hello").files["file"]
    documents_api.store_content(upload, key, caller)
    target = urlsplit(sent["url"])
    arrived = EnvironBuilder(
        method=sent["method"], path=target.path, query_string=target.query, headers=sent["headers"]
    ).get_request()
    assert "params" not in sent  # the query is in the path that was signed, not added after
    assert verified_caller(arrived, key)[0] == caller
