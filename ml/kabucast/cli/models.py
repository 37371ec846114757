"""Models commands (filled in by the models work)."""

from __future__ import annotations

from kabucast.cli.base import Command

COMMANDS: dict[str, Command] = {}
