"""`/readyz`'s broker check: a success stands for a second (a check is a whole AMQP handshake), a
failure is never reused."""

import pytest

from crm_kernel import health


@pytest.fixture
def broker(monkeypatch):
    """The broker's answers, in order, and the checks made of it."""
    state = {"answers": [], "checks": 0}

    def reachable():
        state["checks"] += 1
        return state["answers"].pop(0)

    monkeypatch.setattr(health, "broker_reachable", reachable)
    monkeypatch.setattr(health, "_broker_seen_at", float("-inf"))
    return state


def test_a_broker_seen_a_moment_ago_is_not_asked_again(broker):
    broker["answers"] = [True]
    assert health.broker_recently_reachable() and health.broker_recently_reachable()
    assert broker["checks"] == 1


def test_a_broker_that_did_not_answer_is_asked_again_at_once(broker):
    broker["answers"] = [False, True]
    assert not health.broker_recently_reachable()
    assert health.broker_recently_reachable()
    assert broker["checks"] == 2


def test_a_success_stands_only_for_its_second(broker, monkeypatch):
    broker["answers"] = [True, False]
    assert health.broker_recently_reachable()
    monkeypatch.setattr(health, "_broker_seen_at", health._broker_seen_at - health.BROKER_SEEN_FOR)
    assert not health.broker_recently_reachable()
