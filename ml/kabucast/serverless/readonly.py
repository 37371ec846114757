"""Run a command on a file system like Lambda's: read-only but for one temp dir, with every write attempt listed.

Lambda mounts the code, the layers and everything else read-only; only /tmp can be written. Most
libraries swallow a failed cache write (ONNX Runtime falls back to an in-memory database, matplotlib
to a throwaway folder), so a run that succeeds proves little on its own. Here the command runs:

- in its own mount namespace (util-linux ``unshare``; ``--map-root-user`` when not root) in which
  every mount is remounted read-only and the temp dir is a writable bind of a fresh folder, HOME
  and the working directory included; where the kernel forbids namespaces, with a HOME that cannot
  be created (a path under a regular file) instead, and the mode says so;
- under ``strace``, which records every file system call that would change something (open for
  writing, create, mkdir, rename, unlink, chmod, ...), whether it succeeded or failed.

:attr:`ReadOnlyRun.writes` lists those outside the temp dir (and outside /proc and the terminal
devices), :attr:`ReadOnlyRun.left` what the run left in the temp dir. The environment is Lambda's
kind: built from nothing (PATH, HOME, TMPDIR, LANG and what the caller passes), so no CI or user
variable changes what a library does. Byte-code caching is off (PYTHONDONTWRITEBYTECODE): it is the
interpreter's, Lambda's code folders are read-only, and Python skips them silently.

    python -m kabucast.serverless.readonly [--env NAME=VALUE ...] -- COMMAND [ARG ...]

exits with the command's status, or 1 when it wrote outside the temp dir or left anything in it but
kabucast's scratch folder (kabucast.serverless.scratch).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kabucast.errors import KabucastError
from kabucast.serverless.scratch import SCRATCH

NAMESPACE = "read-only mount namespace"
WRITE_CALLS = (
    "open,openat,openat2,creat,mkdir,mkdirat,rmdir,unlink,unlinkat,rename,renameat,renameat2,link,linkat,"
    "symlink,symlinkat,truncate,mknod,mknodat,chmod,fchmodat,chown,lchown,fchownat,utimensat"
)
OPEN_CALLS = {"open", "openat", "openat2", "creat"}
HARMLESS = ("/proc/", "/dev/null", "/dev/tty", "/dev/pts/", "/dev/fd/")
"""Paths a write to is no write to the file system."""
PASSED_ON = ("PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Variables of this environment the command keeps (OPENBLAS_*: some processors need them, docs/OPERATIONS.md)."""

_SETUP = r"""
set -eu
tmp=$1 out=$2; shift 2
mount --make-rprivate /
mounts=$(findmnt -rn -o TARGET)
mount --bind "$tmp" "$tmp"
mount --bind "$out" "$out"
for m in $mounts; do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev/pts|/dev/pts/*) ;; *) mount -o remount,ro,bind "$m" ;; esac
done
exec "$@"
"""
"""Inside the new namespace: bind the temp dir and the trace folder to themselves (separate, writable mounts),
then remount every other mount read-only (not /proc, /sys or the terminals), then run the command."""
_CALL = re.compile(r"^\d+\s+(\w+)\((.*)$")
_PATH = re.compile(r'(?:(?:AT_FDCWD|\d+)<(?P<dir>[^>]*)>, )?"(?P<path>(?:[^"\\]|\\.)*)"')
_OPEN_FOR_WRITING = re.compile(r"\bO_(?:WRONLY|RDWR|CREAT|TRUNC)\b")
_RESULT = re.compile(r"\) += (.*)$")


class ReadOnlyUnavailable(KabucastError):
    """A tool the read-only run needs is missing."""


@dataclass(frozen=True)
class ReadOnlyRun:
    returncode: int
    stdout: str
    stderr: str
    mode: str  # NAMESPACE, or why it ran with an unwritable HOME instead
    writes: tuple[str, ...]  # "mkdir /root/.cache/x = -1 EROFS (Read-only file system)", outside the temp dir
    left: tuple[str, ...]  # what the run left in the temp dir, relative paths

    @property
    def clean(self) -> bool:
        """No write outside the temp dir, and nothing left in it but kabucast's scratch folder."""
        return not self.writes and all(p.split("/")[0] == SCRATCH for p in self.left)

    def report(self) -> str:
        lines = [f"read-only run ({self.mode}): exit {self.returncode}"]
        lines += [f"  wrote outside the temp dir: {w}" for w in self.writes]
        lines += [f"  left in the temp dir: {p}" for p in self.left if "/" not in p]
        return "\n".join(lines)


def run_read_only(
    argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | Path | None = None, timeout: float = 900
) -> ReadOnlyRun:
    """Run ``argv`` with the environment ``env`` (plus PATH, HOME, TMPDIR, LANG) on a read-only file system."""
    strace = shutil.which("strace")
    if strace is None:
        raise ReadOnlyUnavailable("the read-only run needs strace to see write attempts: apt-get install strace")
    cwd = Path(cwd or Path.cwd()).resolve()
    with tempfile.TemporaryDirectory(prefix="kabucast-readonly-") as base:
        tmp, out, blocker = Path(base, "tmp"), Path(base, "trace"), Path(base, "not-a-folder")
        tmp.mkdir()
        out.mkdir()
        blocker.write_text("HOME cannot be created under a regular file\n")
        unshare, why = namespace_command()
        home = os.environ.get("HOME", "/root") if unshare else str(blocker / "home")
        child_env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
        child_env.update({"HOME": home, "TMPDIR": str(tmp), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"})
        child_env.update(env or {})
        traced = [
            strace,
            "-f",
            "--seccomp-bpf",
            "-qq",
            "-y",
            "-s",
            "4096",
            "-o",
            str(out / "trace"),
            "-e",
            f"trace={WRITE_CALLS}",
        ]
        command = [*traced, "--", *argv]
        if unshare:
            command = [*unshare, "sh", "-c", _SETUP, "sh", str(tmp), str(out), *command]
        done = subprocess.run(
            command, env=child_env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
        trace = (out / "trace").read_text(errors="replace") if (out / "trace").exists() else ""
        if not trace:
            raise ReadOnlyUnavailable(f"the read-only run did not start (exit {done.returncode}): {done.stderr[-999:]}")
        return ReadOnlyRun(
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            mode=NAMESPACE if unshare else f"HOME={home}, no namespace: {why}",
            writes=writes_outside(trace, tmp, cwd),
            left=tuple(sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))),
        )


def namespace_command() -> tuple[list[str] | None, str]:
    """The ``unshare`` command that makes a mount namespace here, or None and why the kernel refuses one."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ReadOnlyUnavailable("the read-only run needs util-linux's unshare, mount and findmnt")
    refused = []
    for command in ([unshare, "--mount"], [unshare, "--mount", "--map-root-user"])[0 if os.geteuid() == 0 else 1 :]:
        probe = subprocess.run([*command, "true"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return command, ""
        if "not permitted" not in probe.stderr.lower():
            raise ReadOnlyUnavailable(f"{' '.join(command)} failed: {probe.stderr.strip()}")
        refused.append(probe.stderr.strip())  # the kernel or a security module forbids this kind of namespace
    return None, "; ".join(refused)


def writes_outside(trace: str, tmp: Path, cwd: Path) -> tuple[str, ...]:
    """The calls in ``strace -y`` output ``trace`` that would change a path outside ``tmp``: "call path = result"."""
    found: dict[str, None] = {}
    for line in trace.splitlines():
        call = _CALL.match(line)
        if call is None or (call[1] in OPEN_CALLS and call[1] != "creat" and not _OPEN_FOR_WRITING.search(call[2])):
            continue
        paths = list(_PATH.finditer(call[2]))[1 if call[1].startswith("symlink") else 0 :]  # a link's target is read
        result = _RESULT.search(call[2])
        for m in paths:
            path = os.path.normpath(os.path.join(m["dir"] or cwd, m["path"]))
            if not (Path(path).is_relative_to(tmp) or path.startswith(HARMLESS)):
                found[f"{call[1]} {path} = {result[1] if result else '(unfinished)'}"] = None
    return tuple(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kabucast.serverless.readonly", description=__doc__.split("\n")[0])
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set in the command's env")
    parser.add_argument("command", nargs="+", help="the command and its arguments (after --)")
    args = parser.parse_args(argv)
    run = run_read_only(args.command, dict(v.split("=", 1) for v in args.env))
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    print(run.report(), file=sys.stderr)
    return run.returncode or (0 if run.clean else 1)


if __name__ == "__main__":
    sys.exit(main())
