"""kabucast: forecasts for the TOPIX Core30 as serverless batch jobs."""

from __future__ import annotations

__version__ = "0.1.0"
