"""The runtime layer's recipe: pins that match what the tests run, and a size check that can say no."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[3] / "layers" / "runtime"


def _package_size():
    spec = importlib.util.spec_from_file_location("package_size", LAYER / "package_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins() -> dict[str, str]:
    lines = (LAYER / "requirements.txt").read_text().splitlines()
    return dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", ln).groups() for ln in lines if ln and not ln.startswith("#"))


def test_layer_pins_match_the_tested_environment() -> None:
    for name, version in pins().items():
        installed = importlib.metadata.version(name)
        assert installed.split(".")[:2] == version.split(".")[:2], (
            f"layers/runtime/requirements.txt pins {name}=={version} but the tests run {installed}: "
            "update the pin so the Lambda ships what was tested"
        )


def test_layer_never_ships_training_or_plotting_packages() -> None:
    assert not {"torch", "lightning", "matplotlib", "pyarrow", "boto3"} & {n.lower() for n in pins()}


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
