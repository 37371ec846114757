"""Trim the built runtime layer and check function + layer against Lambda's unzipped size limit.

    python package_size.py trim  LAYER_DIR
    python package_size.py check [--limit-mb 250] LAYER_DIR [FUNCTION_DIR ...]

Standard library only: it runs under whatever python3 `sam build` finds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

MB = 1024 * 1024
# Directories nobody imports at run time: test suites, byte-code caches, console scripts, and the
# parts of onnxruntime used to convert, quantise or benchmark models (inference needs only capi/).
DROP_DIRS = {"tests", "__pycache__"}
DROP_PATHS = (
    "python/bin",
    "python/onnxruntime/transformers",
    "python/onnxruntime/quantization",
    "python/onnxruntime/tools",
    "python/onnxruntime/datasets",
    "python/onnxruntime/backend",
    "python/pandas/tests",
    "python/numpy/_core/include",
)
DROP_SUFFIXES = (".pyc", ".pyi", ".pyx", ".pxd", ".c", ".cpp", ".h")


def size_of(path: Path) -> int:
    """Apparent size in bytes of a file or of everything under a folder (what Lambda counts)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def trim(layer: Path) -> int:
    """Remove what the runtime never imports; return the bytes removed."""
    before = size_of(layer)
    for rel in DROP_PATHS:
        shutil.rmtree(layer / rel, ignore_errors=True)
    for d in sorted(layer.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and d.name in DROP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
    for f in layer.rglob("*"):
        if f.is_file() and f.suffix in DROP_SUFFIXES:
            f.unlink()
    removed = before - size_of(layer)
    print(f"trimmed {removed / MB:.1f} MB from {layer}")
    return removed


def check(paths: list[Path], limit_mb: float) -> bool:
    """Print the size of each path, the largest packages, and whether the total fits."""
    total = 0
    for p in paths:
        if not p.exists():
            print(f"error: {p} does not exist", file=sys.stderr)
            return False
        n = size_of(p)
        total += n
        print(f"{n / MB:8.1f} MB  {p}")
        site = p / "python"
        if site.is_dir():
            parts = sorted(((size_of(c), c.name) for c in site.iterdir()), reverse=True)[:8]
            print("           largest: " + ", ".join(f"{name} {s / MB:.0f}" for s, name in parts))
    fits = total <= limit_mb * MB
    verdict = "OK" if fits else "TOO LARGE"
    print(f"{total / MB:8.1f} MB  function + layer, unzipped (limit {limit_mb:.0f} MB): {verdict}")
    return fits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("trim")
    t.add_argument("layer", type=Path)
    c = sub.add_parser("check")
    c.add_argument("--limit-mb", type=float, default=250.0)
    c.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "trim":
        trim(args.layer)
        return 0
    return 0 if check(args.paths, args.limit_mb) else 1


if __name__ == "__main__":
    sys.exit(main())
