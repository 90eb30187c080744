"""`dump_rows`: what the schema's own dump gives, for every kind of field and value it may meet."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from marshmallow import Schema, fields, post_dump

from crm_kernel.schemas import EntitySchema, dump_rows


class Shouting(fields.String):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.upper()


class EveryKind(EntitySchema):
    name = fields.String()
    email = fields.Email()
    loud = Shouting()
    count = fields.Integer()
    count_text = fields.Integer(as_string=True)
    ratio = fields.Float()
    flag = fields.Boolean()
    renamed = fields.String(data_key="wireName")
    labels = fields.List(fields.String())
    scores = fields.List(fields.Integer())
    extra = fields.Dict(keys=fields.String())
    anything = fields.Dict()
    day = fields.Date()
    secret = fields.String(load_only=True)
    defaulted = fields.String(dump_default="fallback")


class WithHook(Schema):
    name = fields.String()

    @post_dump
    def mark(self, data, **kwargs):
        return {**data, "hooked": True}


AT = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
FULL = {
    "id": "c1",
    "version": 3,
    "created_at": AT,
    "updated_at": AT.astimezone(timezone(timedelta(hours=2))),
    "name": "Zoë",
    "email": "zoe@example.com",
    "loud": "quiet",
    "count": 7,
    "count_text": 7,
    "ratio": 1,
    "flag": False,
    "renamed": "r",
    "labels": ["b", "a"],
    "scores": [1, 2],
    "extra": {"tier": "gold", "n": None, "nested": {"x": [1]}},
    "anything": {"k": 1},
    "day": AT.date(),
    "secret": "never shown",
    "defaulted": "given",
}


@pytest.mark.parametrize(
    "row",
    [
        FULL,
        {key: None for key in FULL},  # every value None
        {"id": "c2", "version": 1},  # most keys missing: omitted, or their dump_default
        {**FULL, "name": 12, "count": "7", "flag": 1, "labels": ["a", 2], "extra": {1: "one"}, "version": True},
    ],
    ids=["full", "nones", "missing", "unexpected types"],
)
def test_dump_rows_gives_what_the_schema_dumps_key_for_key_in_order(row):
    expected = EveryKind(many=True).dump([row, row])

    dumped = dump_rows(EveryKind, [row, row])

    assert dumped == expected
    assert [list(item) for item in dumped] == [list(item) for item in expected]


def test_dumped_lists_and_dicts_are_copies_not_the_rows_own():
    (dumped,) = dump_rows(EveryKind, [FULL])

    assert dumped["labels"] == FULL["labels"] and dumped["labels"] is not FULL["labels"]
    assert dumped["extra"] == FULL["extra"] and dumped["extra"] is not FULL["extra"]
    assert dumped["loud"] == "QUIET" and "secret" not in dumped and dumped["wireName"] == "r"


def test_a_schema_with_dump_hooks_dumps_itself():
    assert dump_rows(WithHook, [{"name": "a"}]) == [{"name": "a", "hooked": True}]
