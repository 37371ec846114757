"""Lambda's file system is read-only outside /tmp: the libraries' caches go under the temp dir, telemetry nowhere.

What the handlers' libraries would otherwise write outside the temp dir, or leave in it:

- ONNX Runtime (1.2x, on import): a telemetry device id and database in
  ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` and a ``.ses`` file in the temp dir. Its
  ``ORT_DISABLE_TELEMETRY`` turns the telemetry off before anything is created (the Python API,
  ``onnxruntime.disable_telemetry_events()``, can only be called after the import has written);
- matplotlib (imported by Lightning on the monthly path): its config and font cache in
  ``~/.config/matplotlib`` and ``~/.cache/matplotlib`` (``MPLCONFIGDIR``);
- torch (monthly): its compiler's cache, ``<temp dir>/torchinductor_<user>`` (``TORCHINDUCTOR_CACHE_DIR``);
- anything that follows the XDG base directories (platformdirs, so yfinance's own default):
  ``XDG_CACHE_HOME`` and ``XDG_CONFIG_HOME``.

:func:`use_scratch_dirs` sets them, in the process environment, at the start of an invocation (the
handler files call it before :func:`kabucast.serverless.handlers.handle`, so before any of those
libraries is imported); a value the function's environment already sets is kept. Nothing is read
or set at import. ``kabucast.serverless.readonly`` runs the handlers as Lambda would see them, with
everything but the temp dir read-only, and lists any write that escapes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

SCRATCH = "kabucast"
"""The folder under the temp dir that holds every library cache of a warm container."""

TELEMETRY_OFF = {"ORT_DISABLE_TELEMETRY": "1"}
CACHE_DIRS = {
    "MPLCONFIGDIR": "matplotlib",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
}
"""Environment variable -> its folder under ``<temp dir>/kabucast``."""


def use_scratch_dirs(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Point the caches of ``CACHE_DIRS`` under ``<temp dir>/kabucast`` and turn telemetry off; the scratch root."""
    root = Path(tempfile.gettempdir()) / SCRATCH
    for name, value in {**TELEMETRY_OFF, **{k: str(root / sub) for k, sub in CACHE_DIRS.items()}}.items():
        environ.setdefault(name, value)
    return root
