"""ONNX Runtime inference: no torch, input checks, path or bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kabucast.forecast.onnx_model import ForecastInputError, ModelLoadError, OnnxForecaster

from .conftest import Exported, random_batch

NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
from kabucast.forecast import OnnxForecaster
rng = np.random.default_rng(0)
out = OnnxForecaster(sys.argv[1]).predict(
    rng.normal(size=(3, 156, 23)).astype(np.float32), np.zeros((3, 6), np.float32), np.zeros((3, 2), np.float32),
    np.array([0, 5, 11]),
)
assert "lightning" not in sys.modules
print(out.shape)
"""


def test_onnx_forecaster_works_without_torch(exported: Exported) -> None:
    # GIVEN a Python where torch cannot be imported WHEN the forecaster loads and predicts THEN it works
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(exported.path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 12)"


def test_predict_matches_torch_from_a_path_or_bytes(exported: Exported) -> None:
    batch = random_batch(31, seed=5)
    with torch.no_grad():
        expected = exported.model(*(torch.from_numpy(v) for v in batch.values())).numpy()
    for source in (exported.path, exported.path.read_bytes()):
        got = OnnxForecaster(source).predict(**batch)
        assert got.shape == (31, 12) and got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-4
    assert OnnxForecaster(exported.path).horizons == 12


def test_float64_inputs_and_int32_ids_are_accepted(exported: Exported) -> None:
    batch = random_batch(2)
    got = OnnxForecaster(exported.path).predict(
        batch["weekly"].astype(np.float64), batch["static"], batch["position"], batch["sector_id"].astype(np.int32)
    )
    assert got.shape == (2, 12)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "weekly",
            np.zeros((2, 100, 23), np.float32),
            r"weekly has shape \(2, 100, 23\), the model needs \(2, 156, 23\)",
        ),
        ("static", np.zeros((3, 6), np.float32), r"static has shape \(3, 6\)"),
        ("sector_id", np.array([0, 12]), r"sector_id must lie in \[0, 12\)"),
    ],
)
def test_wrong_inputs_are_named(exported: Exported, name: str, value: np.ndarray, message: str) -> None:
    batch = random_batch(2)
    batch[name] = value
    with pytest.raises(ForecastInputError, match=message):
        OnnxForecaster(exported.path).predict(**batch)


def test_a_missing_model_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="ONNX model not found"):
        OnnxForecaster(tmp_path / "model.onnx")


def test_a_corrupt_model_is_a_named_error() -> None:
    with pytest.raises(ModelLoadError, match="cannot load ONNX model <9 bytes>"):
        OnnxForecaster(b"not onnx!")
