"""Hand-built ONNX graphs of the model kinds (ridge, momentum, lightgbm): the serving contract, saving, parity.

A kind that builds its graph with the ``onnx`` helper API gives its nodes and constants; this module
declares the four inputs of :data:`kabucast.forecast.onnx_model.INPUT_DTYPES` and the ``log_returns``
(B, 12) output, so :class:`~kabucast.forecast.onnx_model.OnnxModel`, the gate and the daily Lambda
serve the file unchanged, and checks ONNX Runtime against the kind's numpy forecast. Imported by the
kinds' ``export`` only (the daily Lambda needs ``onnxruntime``, not ``onnx``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from kabucast.features.registry import POSITION_FEATURES, SEQ_WEEKS, STATIC_FEATURES, WEEKLY_FEATURES
from kabucast.forecast.dataset import HORIZONS, ForecastSamples
from kabucast.forecast.onnx_model import INPUT_DTYPES, OUTPUT_NAME

OPSET = 17


def constant(name: str, value: np.ndarray) -> onnx.TensorProto:
    """An initializer holding ``value`` (its dtype as given)."""
    return numpy_helper.from_array(np.asarray(value), name)


def save_graph(
    nodes: Sequence[onnx.NodeProto],
    initializers: Sequence[onnx.TensorProto],
    name: str,
    path: Path,
    opsets: Mapping[str, int] | None = None,
    n_weekly: int = len(WEEKLY_FEATURES),
) -> None:
    """Check and write the graph from the four serving inputs to ``log_returns`` (B, 12) at ``path``; ``weekly`` is
    (B, 156, ``n_weekly``): the width of the samples the model was fitted on (kabucast.features.slow's groups add
    columns to the 23).

    The default domain is at :data:`OPSET`; ``opsets`` declares other domains the nodes use (domain -> version,
    e.g. ``{"ai.onnx.ml": 1}`` for tree ensembles)."""
    inputs = [
        helper.make_tensor_value_info("weekly", TensorProto.FLOAT, ["B", SEQ_WEEKS, n_weekly]),
        helper.make_tensor_value_info("static", TensorProto.FLOAT, ["B", len(STATIC_FEATURES)]),
        helper.make_tensor_value_info("position", TensorProto.FLOAT, ["B", len(POSITION_FEATURES)]),
        helper.make_tensor_value_info("sector_id", TensorProto.INT64, ["B"]),
    ]
    assert tuple(i.name for i in inputs) == tuple(INPUT_DTYPES)
    output = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["B", HORIZONS])
    graph = helper.make_graph(list(nodes), name, inputs, [output], initializer=list(initializers))
    extra = [helper.make_opsetid(domain, version) for domain, version in (opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), *extra])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def served_parity(
    path: Path, samples: ForecastSamples, idx: np.ndarray, expected: np.ndarray, output: str = OUTPUT_NAME
) -> float:
    """Max |ONNX Runtime's ``output`` - ``expected``| (default: the log returns) on samples ``idx``; 0 when ``idx``
    is empty."""
    if not len(idx):
        return 0.0
    batch = samples.take(idx)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {k: np.ascontiguousarray(batch[k], dtype=dtype) for k, dtype in INPUT_DTYPES.items()}
    served = session.run([output], feeds)[0]
    return float(np.abs(served - expected).max())
