"""Export a trained :class:`BiLSTMForecaster` to one ONNX file and prove ONNX Runtime agrees with torch.

The exporter is torch's TorchScript-based one (``dynamo=False``). With torch 2.13 the default
``dynamo=True`` exporter needs the ``onnxscript`` package, which the ``train`` extra does not
install; the TorchScript exporter maps nn.LSTM onto ONNX's native (bidirectional) LSTM operator,
which ONNX Runtime runs fast on CPU, and it is what the parity check and the tests cover.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from kabucast.errors import KabucastError
from kabucast.forecast.model import BiLSTMForecaster
from kabucast.forecast.onnx_model import (
    CONFIG_METADATA_KEY,
    INPUT_DTYPES,
    INPUT_NAMES,
    OUTPUT_NAME,
    QUANTILES_NAME,
)

OPSET = 17
PARITY_TOLERANCE = 1e-4  # max |ONNX Runtime - torch| over the sample batch, log-return units


class ExportParityError(KabucastError):
    """The exported graph does not reproduce the torch model's output on the sample batch."""

    def __init__(self, path: Path, max_diff: float, tolerance: float) -> None:
        super().__init__(
            f"{path}: ONNX Runtime output differs from torch by {max_diff:.3g} (tolerance {tolerance:g}); "
            "the export is wrong, do not publish it (check the torch and onnxruntime versions)"
        )
        self.max_diff = max_diff


def export_onnx(
    model: BiLSTMForecaster,
    path: Path,
    sample_batch: Mapping[str, np.ndarray | torch.Tensor],
    tolerance: float = PARITY_TOLERANCE,
) -> float:
    """Write ``model`` to the single file ``path`` (raw features in, log returns out, any batch size).

    A model with a quantile head also outputs ``quantiles`` (B, 12, Q). ``sample_batch`` holds weekly
    (B, 156, 23), static (B, 6), position (B, 2) and sector_id (B,); other keys are ignored. Returns
    max |ONNX Runtime - torch| over every output on it; raises :class:`ExportParityError` above
    ``tolerance``. ``model`` itself is left untouched.
    """
    path = Path(path)
    frozen = copy.deepcopy(model).cpu().eval()
    graph: torch.nn.Module = WithQuantiles(frozen).eval() if frozen.config.quantiles else frozen
    outputs = [OUTPUT_NAME, QUANTILES_NAME] if frozen.config.quantiles else [OUTPUT_NAME]
    inputs = tuple(torch.from_numpy(_numpy(sample_batch[name], dtype)) for name, dtype in INPUT_DTYPES.items())
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and its LSTM batch-size advice
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in (*INPUT_NAMES, *outputs)},
            opset_version=OPSET,
            dynamo=False,
        )
        expected = graph(*inputs)
        expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
    _stamp_config(path, frozen)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(outputs, {name: t.numpy() for name, t in zip(INPUT_NAMES, inputs, strict=True)})
    max_diff = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected, strict=True))
    if not max_diff <= tolerance:
        raise ExportParityError(path, max_diff, tolerance)
    return max_diff


class WithQuantiles(torch.nn.Module):
    """The graph exported for a forecaster with a quantile head: both outputs of ``forward_with_quantiles``."""

    def __init__(self, model: BiLSTMForecaster) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, weekly: torch.Tensor, static: torch.Tensor, position: torch.Tensor, sector_id: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_with_quantiles(weekly, static, position, sector_id)


def _stamp_config(path: Path, model: BiLSTMForecaster) -> None:
    """Store the model config in the file's metadata (OnnxForecaster checks inputs against it); keep one file."""
    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {CONFIG_METADATA_KEY: json.dumps(model.config.to_dict())})
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def _numpy(value: np.ndarray | torch.Tensor, dtype: type[np.generic]) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value, dtype=dtype)
