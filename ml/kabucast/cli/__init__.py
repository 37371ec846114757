"""The ``kabucast`` command line (entry point ``kabucast.cli:main``)."""

from kabucast.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
