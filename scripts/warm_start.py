"""A service process of `make run` started ahead of need: `nameko run`'s imports done (most of the CPU
a start costs), then it waits for one line on stdin. `run` starts the service, as `nameko run ARGS`
would; end of input (the launcher is gone, or stopped it) exits.

    python scripts/warm_start.py --config config.yaml contacts.service:ContactsService
"""

import importlib
import sys

import eventlet

eventlet.monkey_patch()  # before any other import, as `nameko run` does

from nameko.cli import cli  # noqa: E402

importlib.import_module(sys.argv[-1].split(":")[0])
import nameko.cli.run  # noqa: E402, F401 (what `nameko run` imports when it starts)

if sys.stdin.readline().strip() == "run":
    cli(["run", *sys.argv[1:]], prog_name="nameko")
