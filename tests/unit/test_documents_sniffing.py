"""Content types are sniffed from the bytes and checked against what the client declared."""

import io
import zipfile

import pytest

from crm_kernel.errors import ValidationFailed
from documents.sniffing import content_type_of

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "head, declared, stored",
    [
        (PDF, "application/pdf", "application/pdf"),
        (PDF, "application/x-pdf", "application/pdf"),
        (PDF, "application/octet-stream", "application/pdf"),
        (PDF, None, "application/pdf"),
        (PNG, "image/png", "image/png"),
        (b"name,amount\nAda,3\n", "text/csv", "text/csv"),
        (b"Quote for Ada\n", "text/plain; charset=utf-8", "text/plain"),
        (b"Quote for Ada\n", "application/octet-stream", "text/plain"),
        ("Zoë, Łukasz\n".encode(), "text/plain", "text/plain"),
        (b'{"a": 1}', "application/json", "application/json"),
        (bytes(range(256)), "application/vnd.example", "application/vnd.example"),
    ],
)
def test_the_stored_type_comes_from_the_bytes_when_they_tell_else_from_the_client(head, declared, stored):
    assert content_type_of(head, declared) == stored


def test_an_office_document_is_recognised_inside_its_zip():
    kind = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert content_type_of(docx(), kind) == kind


@pytest.mark.parametrize(
    "head, declared",
    [
        (PNG, "application/pdf"),  # a picture that claims to be a PDF
        (PDF, "image/png"),
        (b"just some words\n", "application/pdf"),  # text that claims to be a PDF
        (PDF, "text/plain"),
        (bytes(range(256)), "text/csv"),  # binary that claims to be text
    ],
)
def test_a_declared_type_the_bytes_contradict_is_refused_naming_file(head, declared):
    with pytest.raises(ValidationFailed) as raised:
        content_type_of(head, declared)
    assert list(raised.value.errors) == ["file"]
    assert declared in raised.value.detail
