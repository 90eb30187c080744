"""What a file really is: its content type sniffed from its first bytes and checked against the client's.

`filetype` recognises binary formats by their signatures (PDF, images, Office and OpenDocument
files, archives); text has no signature, so bytes that decode as UTF-8 without NUL characters count
as text. A client's type is refused when the bytes say otherwise; a binary format nobody recognises
keeps the type the client declared (readers of some formats tolerate leading bytes we cannot judge).
"""

import filetype

from crm_kernel.errors import ValidationFailed

HEAD_BYTES = 8192  # what filetype reads; enough for every signature it knows
GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}
TEXT_LIKE = {"application/json", "application/xml", "application/csv", "application/x-csv", "application/rtf"}
RECOGNISABLE = {kind.mime for kind in filetype.types} - {"application/octet-stream"}
# Names clients use for the same format as the one filetype reports.
ALIASES = {
    "application/x-pdf": "application/pdf",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-zip-compressed": "application/zip",
    "audio/wav": "audio/x-wav",
    "audio/mp3": "audio/mpeg",
}


def normalise(content_type: str | None) -> str:
    """`Text/CSV; charset=utf-8` -> `text/csv`."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def is_text_type(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in TEXT_LIKE


def mismatch(declared: str, found: str) -> ValidationFailed:
    return ValidationFailed(
        f"the file was declared as {declared} but its content is {found}",
        {"file": [f"content type {declared} does not match the content ({found})"]},
    )


def content_type_of(head: bytes, declared: str | None) -> str:
    """The type to store for a file starting with `head`, which the client called `declared`.

    Raises `ValidationFailed` naming `file` when the bytes contradict the declared type.
    """
    wanted = normalise(declared)
    sniffed = filetype.guess_mime(head)
    if sniffed and sniffed != "application/octet-stream":
        if wanted not in GENERIC and wanted != sniffed:
            raise mismatch(wanted, sniffed)
        return sniffed
    if looks_like_text(head):
        if wanted in RECOGNISABLE:
            raise mismatch(wanted, "text")
        return wanted if wanted not in GENERIC and is_text_type(wanted) else "text/plain"
    if is_text_type(wanted):
        raise mismatch(wanted, "binary data")
    return wanted if wanted not in GENERIC else "application/octet-stream"
