"""Run the kabucast CLI with a marker line and a pause around each read and write of the store.

    python tests/fault_runner.py PAUSE_SECONDS kabucast-args...

Before and after every ``get_versioned`` / ``put_if`` / ``put_bytes`` of the S3 store it prints
``kabucast-fault: <step> <key>`` on stdout and sleeps PAUSE_SECONDS, so the test driving it can
SIGKILL it, start a rival run, or kill the endpoint at a chosen instant of the publish.
"""

from __future__ import annotations

import sys
import time

from kabucast.cli.main import main
from kabucast.storage.s3 import S3Store

MARKER = "kabucast-fault:"


def _marked(name: str, method, pause: float):
    def wrapper(self, key, *args, **kwargs):
        print(f"{MARKER} before-{name} {key}", file=sys.__stdout__, flush=True)
        time.sleep(pause)
        out = method(self, key, *args, **kwargs)
        print(f"{MARKER} after-{name} {key}", file=sys.__stdout__, flush=True)
        time.sleep(pause)
        return out

    return wrapper


if __name__ == "__main__":
    pause = float(sys.argv[1])
    for name in ("get_versioned", "put_if", "put_bytes"):
        setattr(S3Store, name, _marked(name, getattr(S3Store, name), pause))
    sys.exit(main(sys.argv[2:]))
