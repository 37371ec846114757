"""Experiments above the models, evaluation and sweeps: walk-forward evaluation, two-stage training,
and model-scored prediction histories for backtests. Nothing below this layer imports it."""
