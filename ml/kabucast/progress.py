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


def progress(
    items: Iterable[T], desc: str, unit: str, total: int | None = None, first_line: bool = True
) -> Iterator[T]:
    """``items`` with a bar (terminal) or a progress line every ~10 s (otherwise); ``unit`` is plural.

    Lines come at the first item, then at most every ~10 s, and at the last. ``first_line=False``
    keeps work that ends within ~10 s silent (for steps that usually are quick, called many times).
    """
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)  # type: ignore[arg-type]
    if interactive():
        yield from tqdm(items, desc=desc, unit=unit, total=total, leave=False)
        return
    started = last = time.monotonic()
    printed = False
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if (done == 1 and first_line) or (done == total and printed) or now - last >= LINE_EVERY_S:
            last, printed = now, True
            of = f"/{total}" if total else ""
            print(f"[{desc}] {done}{of} {unit}, {now - started:.0f} s", file=sys.stderr, flush=True)


class Counter:
    """Progress told by the caller, for work it does not iterate itself (trials finished by a study).

    ``update(done, note)`` moves a bar on a terminal; otherwise it prints one line per call,
    ``[desc] 3/20 trials, 95 s: <note>`` (each call is a step worth a line, unthrottled).
    """

    def __init__(self, desc: str, unit: str, total: int | None) -> None:
        self.desc, self.unit, self.total = desc, unit, total
        self.started = time.monotonic()
        self.bar = tqdm(desc=desc, unit=unit, total=total, leave=False) if interactive() else None

    def update(self, done: int, note: str = "") -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if note:
                self.bar.set_postfix_str(note, refresh=True)
            return
        of = f"/{self.total}" if self.total else ""
        tail = f": {note}" if note else ""
        seconds = time.monotonic() - self.started
        print(f"[{self.desc}] {done}{of} {self.unit}, {seconds:.0f} s{tail}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
