"""Work a step ahead of its consumer, in a thread: a green thread in the service (eventlet)."""

import contextlib
import queue
import threading
from collections.abc import Iterator

from eventlet import tpool

_END = object()


def read_ahead(items: Iterator, depth: int = 2) -> Iterator:
    """Yield what `items` yields, while a thread already computes the next ones (at most `depth` wait).

    The import reads and validates the next batch of rows while the database writes the previous
    one. PostgreSQL works in a process of its own, so its time then overlaps Python's instead of
    adding to it: with real threads because the writer waits on the socket without the GIL, under
    eventlet because the writer's wait on its green socket lets the reader's green thread run.
    An exception raised by `items` is raised here; when the consumer stops early, the thread stops.
    """
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                waiting.put((item, None))
                if stop.is_set():
                    return
            waiting.put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            waiting.put((_END, exc))

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = waiting.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # a producer blocked on a full queue needs room to see `stop`
            with contextlib.suppress(queue.Empty):
                waiting.get(timeout=0.05)


def in_os_thread(items: Iterator) -> Iterator:
    """Yield what `items` yields, each item computed in an operating-system thread (eventlet's pool).

    Checking rows is pure Python with no I/O: in a green thread it would hold the service's one
    event loop for as long as a batch takes, and every other request would wait. An OS thread gives
    the interpreter lock back every few milliseconds, so the service keeps answering meanwhile.
    """
    iterator = iter(items)
    while True:
        item = tpool.execute(next, iterator, _END)
        if item is _END:
            return
        yield item
