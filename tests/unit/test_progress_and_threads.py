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


def test_a_counter_prints_one_line_per_update_with_its_note(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "interactive", lambda: False)
    counter = progress.Counter("optuna s", "trials", 6)
    counter.update(1, "trial 0 COMPLETE +0.0100")
    counter.update(3)
    counter.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[optuna s] 1/6 trials, ") and lines[0].endswith(" s: trial 0 COMPLETE +0.0100")
    assert lines[1].startswith("[optuna s] 3/6 trials, ") and lines[1].endswith(" s")


def test_a_trial_note_names_the_outcome_the_best_so_far_and_the_params() -> None:
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.trial import TrialState, create_trial

    from kabucast.sweeps.optuna_search import trial_note

    dists = {"lr": FloatDistribution(1e-4, 1e-2, log=True), "hidden": IntDistribution(16, 128)}
    done = [create_trial(value=v, params={"lr": 0.00123456, "hidden": 64}, distributions=dists) for v in (0.01, 0.05)]
    for number, t in enumerate(done):
        t.number = number
    pruned = create_trial(state=TrialState.PRUNED, params={"lr": 0.002, "hidden": 32}, distributions=dists)
    pruned.number = 2
    assert trial_note(done[0], done) == "trial 0 COMPLETE +0.0100 (best +0.0500, trial 1) hidden=64 lr=0.00123"
    assert trial_note(pruned, [*done, pruned]) == "trial 2 PRUNED (best +0.0500, trial 1) hidden=32 lr=0.002"


def test_quick_work_without_a_first_line_is_silent_and_slow_work_is_not(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "interactive", lambda: False)
    assert list(progress.progress(range(3), "scoring", "batches", first_line=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)  # every item is "slow"
    list(progress.progress(range(3), "scoring", "batches", first_line=False))
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(",")[0] for ln in lines] == [f"[scoring] {k}/3 batches" for k in (1, 2, 3)]
