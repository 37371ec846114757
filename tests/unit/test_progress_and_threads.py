"""Progress lines where a bar would not survive (a log), and the CPU thread policy."""

from __future__ import annotations

import os

import pytest

from kabucast import compute, progress


def test_without_a_terminal_progress_prints_lines_first_and_last(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "interactive", lambda: False)
    assert list(progress.progress(range(5), "fetch table", "batches")) == [0, 1, 2, 3, 4]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[fetch table] 1/5 batches") and lines[-1].startswith("[fetch table] 5/5 batches")


def test_an_epoch_line_shows_the_scalar_metrics() -> None:
    line = progress.epoch_line(2, 4, {"val_loss": 0.0123456, "train_loss": 0.5, "table": [1, 2]}, 85.2)
    assert line == "epoch 2/4: train_loss 0.5000 val_loss 0.0123 (85 s)"


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 2), (8, 4), (64, 8)])
def test_the_default_never_takes_more_than_half_the_cores(cores: int, threads: int) -> None:
    assert compute.default_threads(cores) == threads


def test_set_torch_threads_applies_to_torch_and_child_processes(monkeypatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "99")
    try:
        assert compute.set_torch_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="at least 1"):
        compute.set_torch_threads(-2)
