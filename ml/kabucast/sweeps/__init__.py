"""Sweeps: Optuna search and grid sweeps over a model's training settings, with a gate against collapse.

A model takes part through an :class:`kabucast.sweeps.objective.Objective` plug-in (the forecaster
today); docs/SWEEPS.md describes the commands, the scores and the shared storage.
"""
