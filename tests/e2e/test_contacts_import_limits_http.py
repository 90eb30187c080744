"""The import's limits as a client meets them through the public API: a body over the byte limit, sent
with its length or chunked without one, and a file over the row limit are each a 413 that changes
nothing; a file of exactly the row limit is imported whole; an upload the client breaks off is never
taken for a whole file. A system of its own, with small limits, so that the files stay small and these
tests fast."""

import socket
import time
import uuid
from urllib.parse import urlparse

import pytest
from e2e_helpers import V1
from system_launcher import launched

MAX_BYTES = 500 * 1024
MAX_ROWS = 6000
BATCH = 4000  # rows the contacts service writes in a transaction


@pytest.fixture(scope="module")
def limited(make_vhost, tmp_path_factory):
    limits = {"CRM_MAX_IMPORT_BYTES": str(MAX_BYTES), "CRM_MAX_IMPORT_ROWS": str(MAX_ROWS)}
    with launched(tmp_path_factory.mktemp("system-limits"), make_vhost(), **limits) as running:
        yield running


def people(rows: int, tag: str, padding: int = 0) -> bytes:
    """`rows` distinct people; `padding` characters of an ignored column make each row longer."""
    pad = "x" * padding
    lines = [f"P{n},p{n}.{tag}@example.com,{tag},{pad}\n" for n in range(rows)]
    return ("first_name,email,tags,created_at\n" + "".join(lines)).encode()


def chunked(body: bytes, size: int = 65536):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post(system, api, body):
    return api.post(system.url(f"{V1}/contacts/import"), data=body, headers={"Content-Type": "text/csv"}, timeout=300)


def tagged(system, api, tag: str) -> list[dict]:
    page = api.get(system.url(f"{V1}/contacts"), params={"tag": tag, "limit": 200}, timeout=60)
    assert page.status_code == 200, page.text
    return page.json()["items"]


def newest_import(system, api) -> dict | None:
    items = api.get(system.url(f"{V1}/contacts/imports"), params={"limit": 1}).json()["items"]
    return items[0] if items else None


@pytest.mark.parametrize("sent", ["with its length", "chunked"])
def test_a_body_over_the_byte_limit_is_a_413_and_changes_nothing(limited, sent):
    api, tag = limited.client(), f"b{uuid.uuid4().hex[:10]}"
    body = people(MAX_ROWS - 1, tag, padding=50)  # rows under the row limit, over the byte limit
    assert len(people(BATCH, tag, padding=50)) < MAX_BYTES < len(body)  # a batch may be written first
    before = newest_import(limited, api)

    response = post(limited, api, body if sent == "with its length" else chunked(body))

    assert response.status_code == 413, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert str(MAX_BYTES) in response.json()["detail"]
    assert tagged(limited, api, tag) == []
    after = newest_import(limited, api)
    if sent == "with its length":  # refused before a byte is read: not even recorded
        assert after == before
    else:  # refused (not failed as an upload cut short), and what it wrote is undone before the answer
        assert after["status"] == "refused", after
        assert after["undo_report"]["deleted"] == after["report"]["created"]


def test_a_file_over_the_row_limit_is_a_413_naming_the_limit_and_changes_nothing(limited):
    api, tag = limited.client(), f"r{uuid.uuid4().hex[:10]}"

    response = post(limited, api, people(MAX_ROWS + 1, tag))

    assert response.status_code == 413, response.text[:300]
    assert f"more than {MAX_ROWS} rows" in response.json()["detail"]
    assert tagged(limited, api, tag) == []
    assert newest_import(limited, api)["status"] == "refused"


def test_a_file_of_exactly_the_row_limit_is_imported_whole(limited):
    api, tag = limited.client(), f"e{uuid.uuid4().hex[:10]}"

    response = post(limited, api, people(MAX_ROWS, tag))

    assert response.status_code == 200, response.text[:300]
    assert (response.json()["rows"], response.json()["created"]) == (MAX_ROWS, MAX_ROWS)
    every, cursor = [], None
    while True:
        params = {"tag": tag, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(limited.url(f"{V1}/contacts"), params=params, timeout=60).json()
        every += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert len({c["id"] for c in every}) == MAX_ROWS


def test_an_upload_the_client_breaks_off_fails_and_its_report_counts_what_it_kept(limited):
    api, tag = limited.client(), f"d{uuid.uuid4().hex[:10]}"
    body = people(MAX_ROWS - 1, tag, padding=50)[: MAX_BYTES - 20_000]  # past the checker's 256 KiB
    address = urlparse(limited.base_url)
    earlier = (newest_import(limited, api) or {}).get("id")  # the module's earlier imports are not this one
    with socket.create_connection((address.hostname, address.port), timeout=30) as raw:
        raw.sendall(
            (
                f"POST {V1}/contacts/import HTTP/1.1\r\nHost: {address.netloc}\r\n"
                f"Authorization: Bearer {limited.token()}\r\nContent-Type: text/csv\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        for piece in chunked(body):
            raw.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        # ... and the client goes away before the last chunk

    stopped = wait_for(
        lambda: (
            (found := newest_import(limited, api)) and found["id"] != earlier and found["status"] != "running" and found
        ),
        "the broken-off import to stop",
    )

    report = stopped["report"]
    assert stopped["status"] == "failed" and stopped["problem"], stopped
    assert report["created"] + report["updated"] + report["skipped"] + report["failed"] == report["rows"]
    assert report["rows"] < body.count(b"\n")  # never a success for part of a file
    assert len(tagged(limited, api, tag)) == report["created"]  # the committed batches, and no more


def wait_for(probe, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not (found := probe()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)
    return found
