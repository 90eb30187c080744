"""The OpenAPI document's rules between fields say what the validators say: a body the document
accepts, the service accepts, and one it refuses, the service refuses (issue 14 item 14)."""

import re

import pytest
from marshmallow import ValidationError
from openapi_schema_validator import OAS30Validator

from contacts.rows import check_header
from contacts.schemas import IMPORT_HEADER_PATTERN, FieldDefinitionSchema
from gateway.service import openapi
from reporting.schemas import PlanSchema, check_plan_target


def document_accepts(component: str, body: dict) -> bool:
    return OAS30Validator(openapi()["components"]["schemas"][component]).is_valid(body)


def plan_accepted(body: dict) -> bool:
    try:
        return check_plan_target(PlanSchema().load(body)) is None
    except ValidationError:
        return False


def field_accepted(body: dict) -> bool:
    try:
        FieldDefinitionSchema().load(body)
    except ValidationError:
        return False
    return True


PLAN = {"metric": "deals_won", "period": "2026-03", "value": "5"}


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({**PLAN, "department_id": "d1"}, True),
        ({**PLAN, "user_id": "u1", "department_id": None}, True),
        ({**PLAN, "department_id": "d1", "user_id": "u1"}, False),
        (PLAN, False),
        ({**PLAN, "department_id": ""}, False),
        ({**PLAN, "department_id": "d1", "currency": "EUR"}, False),
        ({**PLAN, "metric": "won_amount", "department_id": "d1"}, False),
        ({**PLAN, "metric": "won_amount", "department_id": "d1", "currency": "EUR", "value": "1250.50"}, True),
        ({**PLAN, "metric": "sla_compliance", "department_id": "d1", "value": "0.95"}, True),
        ({**PLAN, "metric": "sla_compliance", "department_id": "d1", "value": "1.0"}, True),
        ({**PLAN, "metric": "sla_compliance", "department_id": "d1", "value": "1.5"}, False),
        ({**PLAN, "department_id": "d1", "value": "-1"}, False),
    ],
)
def test_a_plan_the_document_accepts_is_one_the_reporting_service_accepts(body, accepted):
    assert (document_accepts("Plan", body), plan_accepted(body)) == (accepted, accepted)


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"key": "size", "label": "Size", "type": "choice", "choices": ["S", "M"]}, True),
        ({"key": "size", "label": "Size", "type": "choice"}, False),
        ({"key": "size", "label": "Size", "type": "choice", "choices": []}, False),
        ({"key": "note", "label": "Note", "type": "text", "choices": ["x"]}, False),
        ({"key": "note", "label": "Note", "type": "text"}, True),
        ({"key": "note", "label": "Note", "type": "text", "choices": []}, True),
    ],
)
def test_a_custom_field_the_document_accepts_is_one_the_contacts_service_accepts(body, accepted):
    assert (document_accepts("ContactField", body), field_accepted(body)) == (accepted, accepted)


def test_every_column_the_import_header_pattern_allows_is_one_the_contacts_service_knows():
    columns = re.findall(r"[a-z_]+", IMPORT_HEADER_PATTERN.replace(r"\r?\n", ""))
    assert columns[0] == "first_name" and len(columns) > 5
    header = ",".join(columns) + "\n"
    assert re.match(IMPORT_HEADER_PATTERN, header) and re.match(IMPORT_HEADER_PATTERN, "first_name\r\nAda")
    check_header(columns, definitions={})  # raises ValidationFailed naming a column it does not know
