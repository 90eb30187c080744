"""Messages decoded by orjson give exactly what kombu's own JSON decoder gave, whatever the body."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from kombu.serialization import loads as kombu_loads
from kombu.utils import json as kombu_json

from crm_kernel import wire_json

BODIES = [
    json.dumps({"event_id": uuid.uuid4().hex, "type": "contact.created", "entity": {"id": "c1", "tags": ["a", "b"]}}),
    json.dumps({"name": "Zoë 東京 😀", "nested": [[[{"deep": None}]]], "n": -0.0, "x": 1.1e-7, "ok": True}),
    json.dumps({"n": 2**64, "m": -(2**63) - 1, "max": 2**63 - 1}),  # past 64 bits orjson would give floats
    json.dumps({"phone": "1234567890123456789012"}),  # a long run of digits in a string: kombu reads it
    '{"seconds": NaN, "big": Infinity}',  # the standard library reads these, orjson refuses them
    '"\\ud800"',  # a lone surrogate
    '{"a": 1, "a": 2}',
    "[" * 500 + "]" * 500,
    kombu_json.dumps({"at": datetime(2026, 3, 1, tzinfo=UTC), "amount": Decimal("10.50"), "id": uuid.UUID(int=7)}),
]


@pytest.mark.parametrize("body", BODIES)
def test_a_body_decodes_to_what_kombu_gives(body):
    for raw in (body.encode("utf-8"), body, bytearray(body.encode("utf-8")), memoryview(body.encode("utf-8"))):
        got, want = wire_json.loads(raw), kombu_json.loads(raw)

        assert got == want or (got != got and want != want)  # NaN is itself only as a value
        assert type(got) is type(want)
        assert json.dumps(got, default=str) == json.dumps(want, default=str)  # int stays int, typed stays typed


def test_typed_values_come_back_as_their_types():
    body = kombu_json.dumps({"at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "amount": Decimal("10.50")})

    decoded = wire_json.loads(body.encode())

    assert decoded == {"at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "amount": Decimal("10.50")}


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1', b"\xff\xfe{}"])
def test_a_body_kombu_refuses_is_refused_alike(body):
    with pytest.raises(ValueError) as kombu_error:  # noqa: PT011 - the decoder's own errors
        kombu_json.loads(body)
    with pytest.raises(type(kombu_error.value)):
        wire_json.loads(body)


def test_once_installed_every_json_message_is_decoded_by_it(monkeypatch):
    calls = []
    monkeypatch.setattr(wire_json, "LONG_NUMBER", type("Spy", (), {"search": lambda self, data: calls.append(data)})())
    wire_json.install()

    decoded = kombu_loads(b'{"event_id": "e1"}', "application/json", "utf-8")

    assert decoded == {"event_id": "e1"}
    assert calls == [b'{"event_id": "e1"}']
