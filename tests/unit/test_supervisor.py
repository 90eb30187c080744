"""`make run`'s supervisor restarts a process that exits, at once and then with backoff, and leaves the
others alone; with warm spares a restart takes a process whose imports are done."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from run_local import Spares, supervise  # noqa: E402


class FakeProcess:
    def __init__(self, exits_at: float | None, clock):
        self.exits_at, self.clock = exits_at, clock
        self.returncode = None

    def poll(self):
        if self.exits_at is not None and self.clock.now >= self.exits_at:
            self.returncode = -9
        return self.returncode


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(crashing_for: float, rounds: int):
    """A `contacts` that exits at once on every start until `crashing_for` seconds, then stays up."""
    clock = Clock()
    starts = []

    def start(name):
        starts.append((name, clock.now))
        return FakeProcess(clock.now if clock.now < crashing_for else None, clock)

    processes = {"contacts": FakeProcess(0.0, clock), "gateway": FakeProcess(None, clock)}
    supervise(processes, start, max_backoff=8, clock=clock, sleep=clock.sleep, rounds=rounds)
    return starts, processes


def test_a_process_that_keeps_exiting_is_restarted_at_once_then_after_1_2_4_8_8_seconds(capsys):
    starts, processes = run(crashing_for=40, rounds=450)

    times = [at for _, at in starts]
    gaps = [round(later - earlier) for earlier, later in zip([0.0, *times], times, strict=False)]
    assert gaps[:7] == [0, 1, 2, 4, 8, 8, 8]
    assert {name for name, _ in starts} == {"contacts"}  # the gateway kept running, untouched
    assert processes["contacts"].poll() is None  # up again once it stopped crashing
    assert "contacts exited with -9" in capsys.readouterr().out


def test_a_process_that_ran_a_while_is_restarted_at_once_within_a_poll():
    clock = Clock()
    starts = []
    process = FakeProcess(100.0, clock)  # exits after running 100 s

    def start(name):
        starts.append(clock.now)
        return FakeProcess(None, clock)

    supervise({"reporting": process}, start, clock=clock, sleep=clock.sleep, rounds=1050)
    assert len(starts) == 1 and 100.0 <= starts[0] <= 100.11


def waiting_process() -> subprocess.Popen:
    """A stand-in spare: prints the line it is given, then exits."""
    code = "import sys; print(sys.stdin.readline().strip() or 'end of input')"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False)


def test_a_restart_takes_the_waiting_spare_and_tells_it_to_run_and_a_new_spare_is_made_later():
    made = []

    def spawn(name):
        made.append(name)
        return waiting_process()

    spares = Spares(spawn, refill_after=3600)
    spares.fill(["contacts"])
    taken = spares.take("contacts")
    assert taken.stdout.read().strip() == b"run" and taken.wait(timeout=30) == 0
    assert spares.take("contacts") is None  # none waiting until the refill is due: a cold start then
    assert made == ["contacts"]
    spares.close()


def test_closing_the_spares_ends_the_waiting_ones():
    spare = waiting_process()
    spares = Spares(lambda name: spare)
    spares.fill(["reporting"])
    spares.close()
    assert spare.returncode == 0 and spare.stdout.read().strip() == b"end of input"
    spares.fill(["reporting"])  # nothing is made once closed
    assert spares.waiting == {}
