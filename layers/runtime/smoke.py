"""Import the BUILT daily function + layer with the Lambda's Python and run its handler.

    python3.12 layers/runtime/smoke.py .aws-sam/build [STORE]

Only the built artifacts are on sys.path (as in Lambda: the function in /var/task, the layer's
python/ in /opt/python, its config/ in /opt/config), so a module or a config file missing from the
package fails here rather than in AWS. The event is a JPX holiday: the handler answers "skipped"
after loading the universe, the calendar and the daily job (ONNX Runtime and yfinance imported),
without touching the store. Then the live page is rendered from a one-name forecast (no matplotlib), and the
J-Quants client is built (no request). With STORE (layers/runtime/smoke_store.py: the Core30 sample market and a
cross-sectional champion), a copy of it is the store and the handler then serves the session 2026-11-20 from the
stored prices (``skip_fetch``): every name forecast by the champion through ONNX Runtime, no torch imported.
`make package` runs it on a file system like Lambda's, read-only but for
the temp dir, where the store is too (kabucast.serverless.readonly):

    .venv/bin/python -m kabucast.serverless.readonly -- python3.12 -I -B layers/runtime/smoke.py .aws-sam/build
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

SERVED = "2026-11-20"  # the session the smoke store's champion is served on


def main(build_dir: str, served_store: str | None = None) -> int:
    build = Path(build_dir).resolve()
    sys.path[:0] = [str(build / "DailyPipelineFunction"), str(build / "RuntimeLayer" / "python")]
    os.environ["KABUCAST_CONFIG_DIR"] = str(build / "RuntimeLayer" / "config")
    with tempfile.TemporaryDirectory() as store:
        os.environ["KABUCAST_STORE"] = store
        if served_store:
            shutil.copytree(served_store, store, dirs_exist_ok=True)
        import app  # the built handler file

        out = app.lambda_handler({"as_of_date": "2026-11-23"}, None)
        served = serve(app, Path(store)) if served_store else "not asked"
        page = live_page()
        client = jquants_client()
        leaked = [m for m in ("torch", "lightning", "matplotlib") if m in sys.modules]
        outside = [
            m.__file__
            for m in map(sys.modules.get, ("numpy", "onnxruntime", "yfinance", "kabucast"))
            if build.as_posix() not in m.__file__
        ]
    print(f"python {sys.version.split()[0]}: handler answered {json.dumps(out, sort_keys=True)}")
    print(f"the live page renders from the build: {len(page)} characters; the J-Quants client: {client}")
    print(f"served: {served}")
    if out.get("status") != "skipped" or leaked or outside or "<svg" not in page or served.startswith("FAILED"):
        print(f"smoke test FAILED: status={out.get('status')} leaked={leaked} outside_build={outside}", file=sys.stderr)
        return 1
    print("smoke test OK: the built function + layer import and run on their own")
    return 0


def serve(app, store: Path) -> str:
    """The handler's run of :data:`SERVED` from the stored prices: what it published, or ``FAILED: ...``."""
    out = app.lambda_handler({"as_of_date": SERVED, "skip_fetch": True}, None)
    predict = out.get("predict") or {}
    latest = store / "predictions" / "latest.json"
    doc = json.loads(latest.read_text()) if latest.exists() else {}
    names = len(doc.get("predictions", []))
    said = f"{out.get('status')}, {predict.get('predicted')} names by a {doc.get('model_kind')} model"
    if out.get("status") != "ok" or doc.get("model_kind") != "cross_sectional" or names < 30:
        return f"FAILED: {said} ({names} in predictions/latest.json)"
    return f"{said} ({predict.get('model_version')}), in {out.get('seconds')} s"


def jquants_client() -> str:
    """The official J-Quants client as --source jquants builds it (no request is made)."""
    from kabucast.data.sources.jquants_key import ApiKey
    from kabucast.data.sources.jquants_source import official_client

    client = official_client(ApiKey("smoke-test-key"), "http://127.0.0.1:9/v2", 1.0)
    return f"{type(client).__mro__[1].__module__}.{type(client).__mro__[1].__name__} on {client.JQUANTS_API_BASE}"


def live_page() -> str:
    """The daily job's live page (kabucast.evaluation.live_page) from a one-name forecast, rendered by the build."""
    import numpy as np
    import pandas as pd

    from kabucast.evaluation.live_page import PageInputs, render_page
    from kabucast.forecast.document import forecast_document

    day = pd.Timestamp("2026-11-20")
    doc = forecast_document(("7203.T",), np.full((1, 12), 0.01), {"7203.T": day}, {"7203.T": 3000.0}, {}, {}, "v", day)
    history = {"7203.T": (["2026-11-19", "2026-11-20"], [2990.0, 3000.0])}
    return render_page(PageInputs(doc, None, None, {"version": "v"}, history))


if __name__ == "__main__":
    sys.exit(main(*(sys.argv[1:] or [".aws-sam/build"])))
