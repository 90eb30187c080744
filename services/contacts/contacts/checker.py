"""A large CSV import's rows are read and checked in a process of their own.

Checking a row by the API's rules (marshmallow, `phonenumbers`) costs about as much CPU as writing it,
and one Python process runs Python on one CPU at a time: with the checks in the same process the
import ran at the speed of one CPU while PostgreSQL used little of the other. A child process runs
`checked_batches` (the same function, so the same rules and line numbers) on the raw CSV, which this
process feeds it, and sends back each batch pickled; this process only writes.

    parent: body -> child's stdin (a socket)  child: stdin -> open_csv -> checked_batches -> stdout
    parent: stdout -> (rows, failures) batches -> apply_batch

The child is started with this interpreter and `sys.path` and trusts nothing but its parent (pickle
goes both ways between the two; each message is framed by its length). Under eventlet `subprocess`
and threads are green, so waiting on the child blocks nothing else in the service. If the child dies,
the import stops with a 503 after the batches already committed; sending the file again creates
nothing twice.
"""

import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

from contacts.rows import check_header, checked_batches, open_csv, read_up_to
from contacts.threads import read_ahead
from crm_kernel.errors import ServiceUnavailable, ValidationFailed

CHUNK = 64 * 1024
_LENGTH = struct.Struct("!Q")


def checked_in_child(prefix: bytes, stream, definitions: dict, defaults: dict, scope, batch: int) -> Iterator:
    """Batches of (rows, failures) as `checked_batches` yields them for the CSV `prefix` + `stream`.

    ValidationFailed for a file that is not UTF-8 or has a bad header, as in this process.
    """
    # The CSV goes in through a socket, not a pipe: under eventlet a green write to a pipe whose reader
    # has died waits for ever, while a socket's peer going away wakes the writer with an error.
    ours, theirs = socket.socketpair()
    # Eventlet's green sockets are non-blocking at the OS level, and the flag belongs to the open file
    # the child inherits: its reads would then fail with EAGAIN whenever it got ahead of the upload,
    # which Python's buffered reader takes for the end of the file (rows lost without a word).
    os.set_blocking(theirs.fileno(), True)
    with theirs:
        child = subprocess.Popen(
            [sys.executable, "-m", "contacts.checker"],
            stdin=theirs,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
    settings = pickle.dumps((definitions, defaults, scope, batch))
    feed = _Feed(ours, _LENGTH.pack(len(settings)) + settings, prefix, stream, child)
    feeder = threading.Thread(target=feed.run, daemon=True)
    feeder.start()
    rows = 0
    try:
        for kind, *content in read_ahead(_messages(child.stdout)):
            if kind == "error":
                raise ValidationFailed(*content)
            if kind == "end":
                feeder.join()
                _check_counts(feed.sent, rows, *content)
                return
            rows += len(content[0]) + len(content[1])
            yield content
    except ServiceUnavailable:
        if feed.unreadable:  # the upload broke off, and the feeder stopped the child: that is the error
            raise feed.unreadable[0] from None
        raise
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        feeder.join()
        ours.close()


def _check_counts(sent: int, rows: int, bytes_read: int, rows_read: int) -> None:
    """Count, don't trust: the child read every byte sent, and every row it read arrived here."""
    if bytes_read != sent or rows_read != rows:
        raise ServiceUnavailable(
            f"the import's row checker read {bytes_read} of {sent} bytes and sent {rows} of {rows_read} rows; "
            "the rows before are imported, send the file again (nothing is created twice)"
        )


class _Feed:
    """Sends the settings, then the CSV (`prefix`, then the rest of `stream`), to the child, then the end
    of the file; counts the CSV bytes it sent.

    When the child has gone, it stops quietly (the reader reports it). When reading `stream` fails (the
    client went away mid-upload), the file is incomplete: it records why and stops the child, so that
    the child never takes what arrived for the whole file.
    """

    def __init__(self, sock, settings: bytes, prefix: bytes, stream, child):
        self.sock, self.settings, self.prefix, self.stream, self.child = sock, settings, prefix, stream, child
        self.sent = 0
        self.unreadable: list[BaseException] = []

    def run(self) -> None:
        try:
            self.sock.sendall(self.settings)
            self._send(self.prefix)
            while chunk := self._read():
                self._send(chunk)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:  # the child's socket failed: the child has gone (or must), its reader says so
            self.child.kill()
        except _Unreadable as broken:
            self.unreadable.append(broken.__cause__)
            self.child.kill()

    def _read(self) -> bytes:
        """The next piece of the upload. Any error reading it (a reset included, which from the child's
        socket would mean the child had gone) means the upload is incomplete."""
        try:
            return self.stream.read(CHUNK)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            raise _Unreadable from exc

    def _send(self, chunk: bytes) -> None:
        self.sock.sendall(chunk)
        self.sent += len(chunk)


class _Unreadable(Exception):
    """Reading the upload failed (its cause says why)."""


def _messages(pipe) -> Iterator[tuple]:
    """The child's messages up to its "end"; 503 when it stops without one (killed, out of memory)."""
    while True:
        frame = _read_exactly(pipe, _LENGTH.size)
        message = frame and _read_exactly(pipe, _LENGTH.unpack(frame)[0])
        if not message:
            raise ServiceUnavailable(
                "the import's row checker stopped; the rows before the failure are imported, "
                "send the file again (nothing is created twice)"
            )
        message = pickle.loads(message)  # noqa: S301 - from our own child, see the module doc
        yield message
        if message[0] == "end":
            return


def _read_exactly(pipe, size: int) -> bytes | None:
    """`size` bytes, or None at the end of the pipe first (a green pipe's read may return less)."""
    data = read_up_to(pipe, size)
    return data if len(data) == size else None


def _send(sink, message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sink.write(_LENGTH.pack(len(data)) + data)


class _Counted:
    """A binary stream that counts the bytes read from it."""

    def __init__(self, source):
        self.source, self.count = source, 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.count += len(data)
        return data


def main() -> None:
    """The child: settings, then CSV bytes, on stdin; pickled ("batch", rows, failures) on stdout, and at
    the end ("end", CSV bytes read, rows read)."""
    os.set_blocking(0, True)  # a read that would block must wait, never look like the end of the file
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    (length,) = _LENGTH.unpack(_read_exactly(source, _LENGTH.size))
    definitions, defaults, scope, batch = pickle.loads(_read_exactly(source, length))  # noqa: S301 - from our parent
    csv_bytes, rows_read = _Counted(source), 0
    try:
        reader, header = open_csv(csv_bytes)
        check_header(header, definitions)
        for rows, failures in checked_batches(reader, header, definitions, defaults, scope, batch):
            _send(sink, ("batch", rows, failures))
            rows_read += len(rows) + len(failures)
    except ValidationFailed as exc:
        _send(sink, ("error", exc.detail, exc.errors))
    else:
        _send(sink, ("end", csv_bytes.count, rows_read))
    sink.flush()


if __name__ == "__main__":
    main()
