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
from kabucast.forecast.onnx_model import CONFIG_METADATA_KEY, INPUT_DTYPES, INPUT_NAMES, OUTPUT_NAME

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

    ``sample_batch`` holds weekly (B, 156, 23), static (B, 6), position (B, 2) and sector_id (B,);
    other keys are ignored. Returns max |ONNX Runtime - torch| on it; raises
    :class:`ExportParityError` above ``tolerance``. ``model`` itself is left untouched.
    """
    path = Path(path)
    frozen = copy.deepcopy(model).cpu().eval()
    inputs = tuple(torch.from_numpy(_numpy(sample_batch[name], dtype)) for name, dtype in INPUT_DTYPES.items())
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and its LSTM batch-size advice
        torch.onnx.export(
            frozen,
            inputs,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)},
            opset_version=OPSET,
            dynamo=False,
        )
        expected = frozen(*inputs).numpy()  # (B, 12)
    _stamp_config(path, frozen)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {name: t.numpy() for name, t in zip(INPUT_NAMES, inputs, strict=True)})[0]
    max_diff = float(np.max(np.abs(got - expected)))
    if not max_diff <= tolerance:
        raise ExportParityError(path, max_diff, tolerance)
    return max_diff


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
