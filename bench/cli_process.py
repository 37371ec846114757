"""A ``kabucast`` command in a fresh process, as a user or a cold Lambda runs it: wall seconds and peak memory.

The child runs the CLI in-process and prints its own peak resident set (``ru_maxrss``) last on stderr, so the
figure is that process's alone (``RUSAGE_CHILDREN`` would be the maximum over every child so far).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

CHILD = (
    "import resource, sys\n"
    "from kabucast.cli.main import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def run_cli(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[float, float, str]:
    """``kabucast *argv`` in a fresh Python: (wall seconds, peak RSS in MiB, its stdout); exits on a failure."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kabucast {argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("MAXRSS_KB"))
    return wall, rss / 1024, done.stdout
