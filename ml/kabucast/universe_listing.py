"""A broad training universe from an exchange listing: the names a model trains on beside the served ones.

Train broad, serve narrow (docs/FORECASTER.md): a recipe's ``training_universe`` is a universe file
of several hundred names. :func:`universe_from_listing` writes one from a listing table (a ticker
and its TSE 33-sector code per row, as J-Quants' ``listed/info`` gives them, or
../shared/data/jp_dev_sectors.csv), mapping each 33-sector code to the sector map's names
(config/sectors.yaml, Yahoo Finance's 11 sectors, the names the served Core30 file uses), so the
served names and the training names share one sector embedding.

The 33 TSE sectors map onto 11 by their main business; that map is the one judgement here, and it is
config (config/sectors.yaml ``tse33``, read by kabucast.config.SectorSettings), passed in as an argument.
A finer embedding over the 33 sectors needs the served file's names in the same 33 sectors (the
exchange's own master, issue 26).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kabucast.errors import ConfigError


@dataclass(frozen=True)
class Tse33Sector:
    """One TSE 33-sector of the exchange's master: its English name, and the sector map's name it counts as
    (config/sectors.yaml ``tse33``: the one judgement of the mapping, kept in config)."""

    name: str
    sector: str


def sector_of_code(code: object, tse33: Mapping[str, Tse33Sector]) -> str:
    """The sector map's name for a TSE 33-sector code (``3650``, ``"0050"``, ``50``) by ``tse33`` (code -> sector)."""
    key = str(code).strip().zfill(4)
    if key not in tse33:
        raise ConfigError(
            f"unknown TSE 33-sector code {code!r}: add it to config/sectors.yaml's tse33 (known: {', '.join(tse33)})"
        )
    return tse33[key].sector


def universe_from_listing(
    rows: Iterable[Mapping[str, Any]],
    name: str,
    description: str,
    reviewed: str,
    tse33: Mapping[str, Tse33Sector],
    exchange: str = "XTKS",
    currency: str = "JPY",
    exclude: Iterable[str] = (),
) -> dict[str, Any]:
    """A universe file's mapping (``config/universes/*.yaml``): every row's ``ticker``, one spell each.

    Each row needs ``ticker`` and ``sector33_code``; ``company_name`` (or ``name``) names it.
    ``reviewed``: the date the listing is as of. ``tse33``: 33-sector code -> sector (SectorSettings.tse33).
    ``exclude``: tickers left out (e.g. the served names, to keep them out of training).
    """
    left_out = set(exclude)
    members, seen = [], set()
    for row in rows:
        ticker = str(row["ticker"]).strip()
        if ticker in left_out or ticker in seen:
            continue
        seen.add(ticker)
        label = str(row.get("company_name") or row.get("name") or ticker)
        members.append({"ticker": ticker, "name": label, "sector": sector_of_code(row["sector33_code"], tse33)})
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
