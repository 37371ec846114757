"""Evaluation commands (filled in by the evaluation work)."""

from __future__ import annotations

from kabucast.cli.base import Command

COMMANDS: dict[str, Command] = {}
