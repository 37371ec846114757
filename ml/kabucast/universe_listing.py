"""A broad training universe from an exchange listing: the names a model trains on beside the served ones.

Train broad, serve narrow (docs/FORECASTER.md): a recipe's ``training_universe`` is a universe file
of several hundred names. :func:`universe_from_listing` writes one from a listing table (a ticker
and its TSE 33-sector code per row, as J-Quants' ``listed/info`` gives them, or
../shared/data/jp_dev_sectors.csv), mapping each 33-sector code to the sector map's names
(config/sectors.yaml, Yahoo Finance's 11 sectors, the names the served Core30 file uses), so the
served names and the training names share one sector embedding.

The 33 TSE sectors map onto 11 by their main business; the map below is the one judgement here.
A finer embedding over the 33 sectors needs the served file's names in the same 33 sectors (the
exchange's own master, issue 26).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kabucast.errors import ConfigError

TSE33: dict[str, tuple[str, str]] = {
    "0050": ("Fishery, Agriculture & Forestry", "Consumer Defensive"),
    "1050": ("Mining", "Energy"),
    "2050": ("Construction", "Industrials"),
    "3050": ("Foods", "Consumer Defensive"),
    "3100": ("Textiles & Apparels", "Consumer Cyclical"),
    "3150": ("Pulp & Paper", "Basic Materials"),
    "3200": ("Chemicals", "Basic Materials"),
    "3250": ("Pharmaceutical", "Healthcare"),
    "3300": ("Oil & Coal Products", "Energy"),
    "3350": ("Rubber Products", "Consumer Cyclical"),
    "3400": ("Glass & Ceramics Products", "Basic Materials"),
    "3450": ("Iron & Steel", "Basic Materials"),
    "3500": ("Nonferrous Metals", "Basic Materials"),
    "3550": ("Metal Products", "Industrials"),
    "3600": ("Machinery", "Industrials"),
    "3650": ("Electric Appliances", "Technology"),
    "3700": ("Transportation Equipment", "Consumer Cyclical"),
    "3750": ("Precision Instruments", "Healthcare"),
    "3800": ("Other Products", "Consumer Cyclical"),
    "4050": ("Electric Power & Gas", "Utilities"),
    "5050": ("Land Transportation", "Industrials"),
    "5100": ("Marine Transportation", "Industrials"),
    "5150": ("Air Transportation", "Industrials"),
    "5200": ("Warehousing & Harbor Transportation Services", "Industrials"),
    "5250": ("Information & Communication", "Communication Services"),
    "6050": ("Wholesale Trade", "Industrials"),
    "6100": ("Retail Trade", "Consumer Cyclical"),
    "7050": ("Banks", "Financial Services"),
    "7100": ("Securities & Commodity Futures", "Financial Services"),
    "7150": ("Insurance", "Financial Services"),
    "7200": ("Other Financing Business", "Financial Services"),
    "8050": ("Real Estate", "Real Estate"),
    "9050": ("Services", "Industrials"),
}
"""TSE 33-sector code -> (English name, the sector map's name)."""


def sector_of_code(code: object) -> str:
    """The sector map's name for a TSE 33-sector code (``3650``, ``"0050"``, ``50``)."""
    key = str(code).strip().zfill(4)
    if key not in TSE33:
        raise ConfigError(f"unknown TSE 33-sector code {code!r} (known: {', '.join(TSE33)})")
    return TSE33[key][1]


def universe_from_listing(
    rows: Iterable[Mapping[str, Any]],
    name: str,
    description: str,
    reviewed: str,
    exchange: str = "XTKS",
    currency: str = "JPY",
    exclude: Iterable[str] = (),
) -> dict[str, Any]:
    """A universe file's mapping (``config/universes/*.yaml``): every row's ``ticker``, one spell each.

    Each row needs ``ticker`` and ``sector33_code``; ``company_name`` (or ``name``) names it.
    ``reviewed``: the date the listing is as of. ``exclude``: tickers left out (e.g. the served names, to
    keep them out of training).
    """
    left_out = set(exclude)
    members, seen = [], set()
    for row in rows:
        ticker = str(row["ticker"]).strip()
        if ticker in left_out or ticker in seen:
            continue
        seen.add(ticker)
        label = str(row.get("company_name") or row.get("name") or ticker)
        members.append({"ticker": ticker, "name": label, "sector": sector_of_code(row["sector33_code"])})
    if not members:
        raise ConfigError(f"universe {name}: the listing has no ticker left")
    head = {"env": "local", "name": name, "description": description, "exchange": exchange, "currency": currency}
    return {**head, "reviewed": reviewed, "members": members}


def universe_yaml(universe: Mapping[str, Any]) -> str:
    """A universe mapping as YAML text: the head, then one member (spell) a line."""
    head = {k: v for k, v in universe.items() if k != "members"}
    lines = [yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=1000).rstrip(), "members:"]
    for m in universe["members"]:
        lines.append("  - " + yaml.safe_dump(m, default_flow_style=True, sort_keys=False, allow_unicode=True).strip())
    return "\n".join(lines) + "\n"


def write_universe(path: Path, universe: Mapping[str, Any]) -> Path:
    """Write a universe mapping as YAML (one member per line) and return ``path``."""
    path.write_text(universe_yaml(universe), encoding="utf-8")
    return path
