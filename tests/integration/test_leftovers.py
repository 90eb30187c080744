"""A run sweeps what killed runs left on the shared broker and database server, and only that."""

import subprocess
import sys
import uuid
from pathlib import Path

import pg8000.native
from leftovers import (
    DATABASE_PREFIX,
    PG_ADMIN,
    VHOST_PREFIX,
    databases,
    rabbitmqctl,
    run_stamp,
    sweep_databases,
    sweep_vhosts,
    vhosts,
)

TESTS = Path(__file__).resolve().parents[1]


def stamp_of_a_process_that_has_ended() -> str:
    printed = subprocess.run(
        [sys.executable, "-c", "import leftovers; print(leftovers.run_stamp())"],
        cwd=TESTS,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return printed.stdout.strip()  # run() has reaped it: its pid is gone or belongs to a later process


def create_database(name: str) -> None:
    admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
    try:
        admin.run(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


def test_the_vhost_of_an_ended_run_is_deleted_and_that_of_a_live_or_unstamped_run_is_kept():
    suffix = uuid.uuid4().hex[:6]
    dead = f"{VHOST_PREFIX}{stamp_of_a_process_that_has_ended()}-{suffix}"
    alive = f"{VHOST_PREFIX}{run_stamp()}-{suffix}"
    unstamped = f"{VHOST_PREFIX}{suffix}"  # the old naming: nothing tells whether its run still runs
    for name in (dead, alive, unstamped):
        rabbitmqctl("add_vhost", name)
    try:
        swept = sweep_vhosts()

        remaining = vhosts()
        assert dead in swept and dead not in remaining
        assert alive in remaining and unstamped in remaining
    finally:
        for name in {dead, alive, unstamped} & vhosts():
            rabbitmqctl("delete_vhost", name)


def test_the_database_of_an_ended_run_is_dropped_and_that_of_a_live_or_unstamped_run_is_kept():
    suffix = uuid.uuid4().hex[:4]
    dead = f"{DATABASE_PREFIX}{stamp_of_a_process_that_has_ended().replace('-', '_')}_{suffix}_x_0"
    alive = f"{DATABASE_PREFIX}{run_stamp().replace('-', '_')}_{suffix}_x_0"
    unstamped = f"{DATABASE_PREFIX}{suffix}_x_0"
    for name in (dead, alive, unstamped):
        create_database(name)
    try:
        swept = sweep_databases()

        remaining = databases()
        assert dead in swept and dead not in remaining
        assert alive in remaining and unstamped in remaining
    finally:
        admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
        for name in {dead, alive, unstamped} & databases():
            admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
