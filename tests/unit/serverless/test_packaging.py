"""The runtime layer's recipe: only runtime packages, and a size check that can say no.

That its pins equal the lock (and so what the tests run) is tests/unit/test_lock.py's job."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LAYER = ROOT / "layers" / "runtime"


def _package_size():
    spec = importlib.util.spec_from_file_location("package_size", LAYER / "package_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_never_ships_training_or_plotting_packages() -> None:
    text = (ROOT / "requirements" / "layer.txt").read_text().lower()
    shipped = {line.split("==")[0] for line in text.splitlines() if "==" in line and not line.startswith(" ")}
    assert {"numpy", "onnxruntime", "yfinance"} <= shipped
    assert not {"torch", "lightning", "matplotlib", "pyarrow", "boto3", "botocore"} & shipped


def test_trim_removes_tests_and_caches_and_check_enforces_the_limit(tmp_path: Path, capsys) -> None:
    ps = _package_size()
    site = tmp_path / "layer" / "python"
    (site / "pkg" / "tests").mkdir(parents=True)
    (site / "pkg" / "__pycache__").mkdir()
    (site / "pkg" / "mod.py").write_bytes(b"x" * 1000)
    (site / "pkg" / "tests" / "test_big.py").write_bytes(b"x" * 5000)
    (site / "pkg" / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"x" * 700)
    assert ps.trim(tmp_path / "layer") == 5700
    assert sorted(p.name for p in site.rglob("*")) == ["mod.py", "pkg"]
    assert ps.check([tmp_path / "layer"], limit_mb=1.0)
    assert not ps.check([tmp_path / "layer"], limit_mb=0.0005)
    assert "TOO LARGE" in capsys.readouterr().out


@pytest.mark.parametrize("missing", ["nope"])
def test_check_fails_on_a_missing_path(tmp_path: Path, missing: str) -> None:
    assert not _package_size().check([tmp_path / missing], limit_mb=250)
