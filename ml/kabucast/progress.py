"""Progress for long work: a bar on a terminal, plain lines otherwise (a log file, CI, ``2>log``).

Bars redraw in place and vanish from a log; lines survive it. Both go to stderr, so stdout keeps
only a command's summary or its JSON report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
LINE_EVERY_S = 10.0
"""A line at most this often (and at the first and last item) when stderr is not a terminal."""


def interactive() -> bool:
    return sys.stderr.isatty()


def progress(items: Iterable[T], desc: str, unit: str, total: int | None = None) -> Iterator[T]:
    """``items`` with a bar (terminal) or a progress line every ~10 s (otherwise); ``unit`` is plural."""
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)  # type: ignore[arg-type]
    if interactive():
        yield from tqdm(items, desc=desc, unit=unit, total=total, leave=False)
        return
    started = last = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if done == 1 or done == total or now - last >= LINE_EVERY_S:
            last = now
            of = f"/{total}" if total else ""
            print(f"[{desc}] {done}{of} {unit}, {now - started:.0f} s", file=sys.stderr, flush=True)


def epoch_line(epoch: int, max_epochs: int, metrics: dict[str, Any], seconds: float) -> str:
    """``epoch 2/4: train_loss 0.1234 val_loss 0.1301 ... (85 s)`` for one finished epoch."""
    shown = " ".join(f"{k} {float(v):.4f}" for k, v in sorted(metrics.items()) if _scalar(v))
    return f"epoch {epoch}/{max_epochs}: {shown} ({seconds:.0f} s)"


def _scalar(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return getattr(value, "ndim", 0) == 0
