"""Import the BUILT daily function + layer with the Lambda's Python and run its handler once.

    python3.12 layers/runtime/smoke.py .aws-sam/build

Only the built artifacts are on sys.path (as in Lambda: the function in /var/task, the layer's
python/ in /opt/python, its config/ in /opt/config), so a module or a config file missing from the
package fails here rather than in AWS. The event is a JPX holiday: the handler answers "skipped"
after loading the universe, the calendar and the daily job (ONNX Runtime and yfinance imported),
without touching the store. Then the live page is rendered from a one-name forecast (no matplotlib), and the
J-Quants client is built (no request).
`make package` runs it on a file system like Lambda's, read-only but for
the temp dir, where the store is too (kabucast.serverless.readonly):

    .venv/bin/python -m kabucast.serverless.readonly -- python3.12 -I -B layers/runtime/smoke.py .aws-sam/build
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(build_dir: str) -> int:
    build = Path(build_dir).resolve()
    sys.path[:0] = [str(build / "DailyPipelineFunction"), str(build / "RuntimeLayer" / "python")]
    os.environ["KABUCAST_CONFIG_DIR"] = str(build / "RuntimeLayer" / "config")
    with tempfile.TemporaryDirectory() as store:
        os.environ["KABUCAST_STORE"] = store
        import app  # the built handler file

        out = app.lambda_handler({"as_of_date": "2026-11-23"}, None)
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
    if out.get("status") != "skipped" or leaked or outside or "<svg" not in page:
        print(f"smoke test FAILED: status={out.get('status')} leaked={leaked} outside_build={outside}", file=sys.stderr)
        return 1
    print("smoke test OK: the built function + layer import and run on their own")
    return 0


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
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"))
