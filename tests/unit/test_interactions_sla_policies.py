"""SLA policies through the service's methods: their working hours and targets are bounded."""

import pytest

from crm_kernel.errors import ValidationFailed
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def test_an_sla_policy_with_overlapping_hours_is_refused(service):
    hours = {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}

    with pytest.raises(ValidationFailed) as refused:
        service.create_sla_policy(
            {"department_id": "d1", "targets": {"low": 1, "normal": 1, "high": 1, "urgent": 1}, "working_hours": hours}
        )

    assert refused.value.errors == {"working_hours": ["mon: intervals overlap at 12:00"]}
    assert service.list_sla_policies({})["items"] == []


def test_an_sla_policy_leaves_an_hour_a_week_and_targets_at_most_30000_working_minutes(service):
    targets = {"low": 30_001, "normal": 1, "high": 1, "urgent": 1}
    with pytest.raises(ValidationFailed) as refused:
        service.create_sla_policy({"department_id": "d1", "targets": targets})
    assert list(refused.value.errors) == ["targets"]
    a_minute = {"mon": [["09:00", "09:01"]]}
    with pytest.raises(ValidationFailed) as refused:
        service.create_sla_policy({"department_id": "d1", "targets": targets | {"low": 1}, "working_hours": a_minute})
    assert list(refused.value.errors) == ["working_hours"]
    assert service.list_sla_policies({})["items"] == []
