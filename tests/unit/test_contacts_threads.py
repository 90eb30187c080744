"""read_ahead: the import's reader a batch ahead of its writer, in a thread."""

import pytest

from contacts.threads import read_ahead


def test_every_item_arrives_in_order():
    assert list(read_ahead(iter(range(100)), depth=2)) == list(range(100))


def test_an_error_of_the_producer_is_raised_to_the_consumer_after_what_came_before():
    def items():
        yield 1
        yield 2
        raise ValueError("broken row stream")

    received = []
    with pytest.raises(ValueError, match="broken row stream"):
        for item in read_ahead(items()):
            received.append(item)
    assert received == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer_within_the_queue_depth():
    produced = []

    def items():
        for n in range(1000):
            produced.append(n)
            yield n

    for item in read_ahead(items(), depth=2):
        if item == 3:
            break

    assert len(produced) <= 3 + 1 + 2 + 1  # consumed, in hand, queued, and the one whose put saw `stop`
