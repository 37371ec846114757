"""Check that an installed environment holds exactly the versions a requirements lock pins.

    python requirements/check_env.py [requirements/lock.txt]

Run by `make install` with the venv's Python, and by tests/unit/test_lock.py. Standard library only.
Exit 1 (naming each package) when a locked package is missing or at another version; packages
installed beyond the lock (pip itself, kabucast) are listed but allowed.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
ALLOWED_EXTRA = {"pip", "kabucast"}


def normalise(name: str) -> str:
    """PEP 503 name: `PyYAML` and `pyyaml`, `curl_cffi` and `curl-cffi` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """{normalised name: version} of every `name==version` line in a requirements file."""
    out = {}
    for line in lock.read_text().splitlines():
        m = PIN.match(line)
        if m:
            out[normalise(m.group(1))] = m.group(2)
    if not out:
        raise SystemExit(f"{lock}: no `name==version` pins found; regenerate it with `make lock`")
    return out


def installed() -> dict[str, str]:
    return {normalise(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def differences(locked: dict[str, str], have: dict[str, str]) -> list[str]:
    """One line per locked package that is missing or at another version than the lock's."""
    return [
        f"{name}: locked {version}, installed {have.get(name, 'nothing')}"
        for name, version in sorted(locked.items())
        if have.get(name) != version
    ]


def main(argv: list[str]) -> int:
    lock = Path(argv[0] if argv else Path(__file__).with_name("lock.txt"))
    locked, have = pins(lock), installed()
    wrong = differences(locked, have)
    extra = sorted(set(have) - set(locked) - ALLOWED_EXTRA)
    if wrong:
        print(f"environment does NOT match {lock} ({len(wrong)} of {len(locked)} packages):", *wrong, sep="\n  ")
        print("re-install from the lock: rm -rf .venv && make install")
        return 1
    note = f"; {len(extra)} unlocked extra: {', '.join(extra)}" if extra else ""
    print(f"environment matches {lock}: {len(locked)} packages at the locked versions{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
