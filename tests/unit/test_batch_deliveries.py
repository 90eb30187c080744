"""Which batches one multiple acknowledgement may settle: only the oldest unsettled deliveries of a channel."""

from types import SimpleNamespace

from crm_kernel.batches import Deliveries


def delivered(deliveries: Deliveries, channel, first: int, count: int) -> list:
    messages = [SimpleNamespace(channel=channel, delivery_tag=tag) for tag in range(first, first + count)]
    for message in messages:
        deliveries.received(message)
    return messages


def test_a_batch_of_the_oldest_deliveries_may_be_acknowledged_at_once():
    deliveries = Deliveries()
    older = delivered(deliveries, "channel", 1, 3)
    delivered(deliveries, "channel", 4, 3)

    assert deliveries.are_oldest(older)


def test_a_newer_batch_waits_for_the_older_one_and_then_may_be_acknowledged_at_once():
    deliveries = Deliveries()
    older = delivered(deliveries, "channel", 1, 3)
    newer = delivered(deliveries, "channel", 4, 3)

    assert not deliveries.are_oldest(newer)
    for message in older:
        deliveries.settled(message)
    assert deliveries.are_oldest(newer)


def test_a_batch_with_a_gap_or_on_two_channels_is_acknowledged_message_by_message():
    deliveries = Deliveries()
    first, second = delivered(deliveries, "channel", 1, 3), delivered(deliveries, "channel", 4, 3)
    elsewhere = delivered(deliveries, "reconnected", 1, 2)

    assert not deliveries.are_oldest([first[0], first[2]])  # tag 2 is another batch's and unsettled
    assert not deliveries.are_oldest([*first, *second[:1], *elsewhere])
    assert deliveries.are_oldest(elsewhere)
    assert not deliveries.are_oldest([first[0], first[0]])  # one delivery twice is not two


def test_settled_deliveries_leave_nothing_behind():
    deliveries = Deliveries()
    batch = delivered(deliveries, "channel", 1, 2)
    for message in batch:
        deliveries.settled(message)
        deliveries.settled(message)  # settling twice is harmless

    assert deliveries._open == {}
