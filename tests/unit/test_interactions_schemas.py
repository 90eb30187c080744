"""The interaction wire format: unambiguous times and known channels."""

from datetime import UTC, datetime

import pytest

from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from interactions.schemas import InteractionSchema


def interaction_data(**overrides):
    return {"contact_id": "c1", "channel": "call", "occurred_at": "2026-03-10T10:00:00+00:00"} | overrides


def load_interaction(data):
    return load(InteractionSchema(), data)


def test_an_occurred_at_without_an_offset_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        load_interaction(interaction_data(occurred_at="2026-03-10T10:00:00"))

    assert list(refused.value.errors) == ["occurred_at"]


def test_an_occurred_at_with_an_offset_is_converted_to_utc():
    occurred_at = load_interaction(interaction_data(occurred_at="2026-03-10T10:00:00+01:00"))["occurred_at"]

    assert occurred_at == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert occurred_at.utcoffset().total_seconds() == 0


# The channels the public API documents (DESIGN.md), not the module's own list.
@pytest.mark.parametrize("channel", ["call", "email", "meeting", "chat", "note", "order", "complaint"])
def test_every_documented_channel_is_accepted(channel):
    assert load_interaction(interaction_data(channel=channel))["channel"] == channel


@pytest.mark.parametrize("channel", ["fax", "CALL", ""])
def test_an_unknown_channel_is_refused(channel):
    with pytest.raises(ValidationFailed) as refused:
        load_interaction(interaction_data(channel=channel))

    assert list(refused.value.errors) == ["channel"]


def test_an_interaction_without_occurred_at_happened_now():
    before = datetime.now(UTC)
    data = interaction_data()
    del data["occurred_at"]

    occurred_at = load_interaction(data)["occurred_at"]

    assert before <= occurred_at <= datetime.now(UTC)
    assert occurred_at.utcoffset().total_seconds() == 0


def test_an_update_without_occurred_at_leaves_it_alone():
    assert "occurred_at" not in load(InteractionSchema(), {"subject": "call back"}, partial=True)
