"""The handlers' logs and metrics as CloudWatch would receive them: JSON lines and EMF blobs on stdout.

Each case runs `kabucast invoke` in a fresh process (a cold container), so what is checked is what
the function prints, parsed line by line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[2] / "events"


def run(tmp_path: Path, *invocations: str) -> tuple[int, list[dict]]:
    """Invoke the daily handler once per event file in one process; every JSON line it printed."""
    code = "\n".join(
        [
            "import sys, os",
            "from kabucast.serverless.runner import invoke, load_handler_module",
            f"env = {{'KABUCAST_STORE': {str(tmp_path)!r}, 'KABUCAST_SOURCE': 'sample'}}",
            "module = None",
            "import json",
            *[
                f"try:\n    module = module or load_handler_module('daily')\n"
                f"    invoke('daily', json.load(open({str(EVENTS / e)!r})), env, module)\nexcept Exception:\n    pass"
                for e in invocations
            ],
        ]
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    return proc.returncode, lines


def metrics_of(blob: dict) -> set[str]:
    return {m["Name"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def test_a_cold_then_warm_run_logs_json_with_cold_start_and_emits_emf(tmp_path: Path) -> None:
    code, lines = run(tmp_path, "daily_holiday.json", "daily_holiday.json")
    logs = [x for x in lines if "level" in x]
    blobs = [x for x in lines if "_aws" in x]
    assert code == 0 and len(logs) == 2 and len(blobs) == 2
    assert [x["cold_start"] for x in logs] == [True, False]
    first = logs[0]
    assert first["message"] == "run finished" and first["job"] == "daily" and first["as_of"] == "2026-11-23"
    assert first["summary"]["status"] == "skipped" and first["function_request_id"] and first["timestamp"]
    assert {"ColdStart", "Failures", "Duration"} <= metrics_of(blobs[0]) and "ColdStart" not in metrics_of(blobs[1])
    assert blobs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "kabucast" and blobs[0]["job"] == "daily"


def test_a_failed_run_logs_the_error_and_counts_it(tmp_path: Path) -> None:
    # an empty store: no prices, no champion -> the run raises
    _, lines = run(tmp_path, "daily_skip_fetch.json")
    failed = next(x for x in lines if x.get("message") == "run failed")
    assert failed["level"] == "ERROR" and failed["error"] and "exception" in failed
    blob = next(x for x in lines if "_aws" in x)
    assert {"RunFailed", "TickersPublished", "Duration"} <= metrics_of(blob) and blob["RunFailed"] == [1.0]
