"""ONNX export: one file, any batch size, same numbers as torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from kabucast.errors import KabucastError
from kabucast.forecast.export import ExportParityError, export_onnx
from kabucast.forecast.model import BiLSTMForecaster
from kabucast.forecast.onnx_model import CONFIG_METADATA_KEY, INPUT_NAMES

from .conftest import TINY, Exported, random_batch


def test_export_reports_parity_within_tolerance(exported: Exported) -> None:
    assert 0.0 <= exported.max_diff <= 1e-4


@pytest.mark.parametrize("batch_size", [1, 7])
def test_exported_graph_matches_torch_for_any_batch_size(exported: Exported, batch_size: int) -> None:
    # GIVEN a model exported with a batch of 4 WHEN ONNX Runtime and torch see a batch of another size
    batch = random_batch(batch_size, seed=10 + batch_size)
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    got = session.run(["log_returns"], {name: batch[name] for name in INPUT_NAMES})[0]
    with torch.no_grad():
        expected = exported.model(*(torch.from_numpy(batch[name]) for name in INPUT_NAMES)).numpy()
    # THEN they agree to 1e-4
    assert got.shape == (batch_size, 12)
    assert np.abs(got - expected).max() <= 1e-4


def test_export_is_one_self_contained_file(exported: Exported) -> None:
    graph = onnx.load(str(exported.path), load_external_data=False)
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in graph.graph.initializer)
    assert [p.key for p in graph.metadata_props] == [CONFIG_METADATA_KEY]
    assert graph.opset_import[0].version >= 17
    assert sorted(p.name for p in exported.path.parent.iterdir()) == ["model.onnx"]


def test_a_failed_parity_check_raises_a_named_error(tmp_path: Path) -> None:
    # GIVEN a tolerance no export can meet WHEN exporting THEN the named error says what to do
    model = BiLSTMForecaster(TINY)
    with pytest.raises(ExportParityError, match="do not publish") as info:
        export_onnx(model, tmp_path / "model.onnx", random_batch(2), tolerance=-1.0)
    assert isinstance(info.value, KabucastError)


def test_export_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    model = BiLSTMForecaster(TINY).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, tmp_path / "model.onnx", random_batch(2))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
