"""`kabucast universe sync --source jquants` and `kabucast calendar --check jquants` end to end: the CLI, the official
client and the store, against the stand-in of the J-Quants API on the loopback (tests/jquants_standin.py), whose
masters replay config/universes/topix_core30.yaml (and a review on top of it) and whose calendar is XTKS's."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pandas as pd
import pytest
from tests.jquants_standin import OUTSIDER, StandIn, calendar_rows, master_row, masters_of, member_row

from kabucast.cli.main import main
from kabucast.config import CONFIG_DIR, load_universe
from kabucast.data.calendar import calendar_for
from kabucast.data.sources.jquants_key import ENV_KEY
from kabucast.data.sources.jquants_source import ENV_BASE_URL
from kabucast.data.stored_universe import stored_universe, universe_key
from kabucast.jobs.wiring import build_monthly_job
from kabucast.storage import LocalStore

KEY = "jq-test-key-8f14e45fceea167a5a36dedd4bea2543"
AS_OF = "2026-11-20"
REVIEW = "2026-10-30"  # the 2026 review takes effect on the last session of October
FILE = "universes/topix_core30.yaml"


@pytest.fixture(scope="module")
def core30():
    return load_universe(FILE)


@pytest.fixture
def standin(monkeypatch) -> Iterator[StandIn]:
    server = StandIn({}, KEY).start()
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, server.base_url)
    yield server
    server.stop()


def sync(store: LocalStore, capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(["universe", "sync", "--source", "jquants", "--store", store.url, "--as-of", AS_OF, "--json", *argv])
    out, err = capsys.readouterr()
    assert KEY not in out + err
    assert code in (0, 2), err  # 3 would be a bug: its traceback
    return code, (json.loads(out[: out.rindex("}") + 1]) if code == 0 else {}), err


def spells(members) -> list[dict]:
    """The file's spells as the sync writes them (no key for an open end)."""
    rows = [{k: v for k, v in dataclasses.asdict(m).items() if v is not None} for m in members]
    return sorted(rows, key=lambda m: (m["ticker"], m.get("since") or ""))


def test_a_master_replaying_the_file_reproduces_its_spells(tmp_path, standin, core30, capsys) -> None:
    # GIVEN masters that replay the file's membership since 2011-10-28 (every review and the ad-hoc changes)
    standin.masters = masters_of(core30, calendar_for("XTKS"))
    store = LocalStore(tmp_path / "store")
    # WHEN the universe is synced from them and written
    code, report, _ = sync(store, capsys, "--write")
    # THEN the spells are the file's, to the day (Docomo's 2020-12-02, Sony Financial's 2025-09-29 included)
    assert code == 0
    assert report["universe"]["members"] == spells(core30.members)
    assert (report["added"], report["removed"], report["unknown_sectors"]) == ([], [], [])
    assert report["universe"]["history_from"] == core30.history_from
    assert report["universe"]["reviewed"] == REVIEW  # the latest review the masters cover
    written = stored_universe(store, core30)
    assert written.members == tuple(sorted(core30.members, key=lambda m: (m.ticker, m.since or "")))
    assert (written.reviewed, written.exchange, written.review_month) == (REVIEW, "XTKS", 10)
    assert report["masters"] < 300  # month-ends since 2011 and a bisection per change


def test_a_review_yields_its_spells_and_the_diff(tmp_path, standin, core30, capsys) -> None:
    # GIVEN the replay, and the 2026 review: Seven & i and KDDI leave, Fujitsu and Oriental Land (a sector the map
    # lacks) join
    masters = masters_of(core30, calendar_for("XTKS"))
    staying = [member_row(m, "TOPIX Core30") for m in core30.spells_on(REVIEW) if m.ticker not in ("3382.T", "9433.T")]
    joining = [
        master_row("67020", "Fujitsu", "TOPIX Core30", "3650", "Electric Appliances"),
        master_row("46610", "Oriental Land", "TOPIX Core30", "9999", "Other"),
    ]
    standin.masters = {**masters, REVIEW: [*staying, *joining, OUTSIDER]}
    store = LocalStore(tmp_path / "store")
    # WHEN synced and written
    code, report, _ = sync(store, capsys, "--write")
    # THEN exactly those spells changed, and the diff says so with their dates
    assert code == 0
    assert report["added"] == [
        {"date": "2026-10-29", "change": "left", "ticker": "3382.T", "name": "Seven & i Holdings"},
        {"date": "2026-10-29", "change": "left", "ticker": "9433.T", "name": "KDDI"},
        {"date": REVIEW, "change": "joined", "ticker": "4661.T", "name": "Oriental Land"},
        {"date": REVIEW, "change": "joined", "ticker": "6702.T", "name": "Fujitsu"},
    ]
    assert report["removed"] == []
    assert report["unknown_sectors"] == [{"ticker": "4661.T", "s33": "9999", "s33_name": "Other"}]
    expected = [
        {**s, "until": "2026-10-29"} if s["ticker"] in ("3382.T", "9433.T") else s for s in spells(core30.members)
    ]
    expected += [
        {"ticker": "4661.T", "name": "Oriental Land", "sector": "Other", "since": REVIEW},
        {"ticker": "6702.T", "name": "Fujitsu", "sector": "Technology", "since": REVIEW},
    ]
    assert report["universe"]["members"] == sorted(expected, key=lambda m: (m["ticker"], m.get("since") or ""))
    # AND `kabucast universe` (the jobs' reader) now shows the store's copy, up to date: no review warning
    assert main(["universe", "--store", store.url, "--as-of", AS_OF, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reviewed"] == REVIEW and shown["warnings"] == []
    assert {"6702.T", "4661.T"} <= {m["ticker"] for m in shown["members"]}
    assert not {"3382.T", "9433.T"} & {m["ticker"] for m in shown["members"]}
    # AND a sync with nothing new changes nothing against that copy
    code, again, _ = sync(store, capsys)
    assert (code, again["added"], again["removed"]) == (0, [], [])
    # AND a sync of this year alone, against the file, keeps the file's earlier spells: the same result
    code, recent, _ = sync(LocalStore(tmp_path / "other"), capsys, "--since", "2026-01-05")
    assert code == 0 and recent["universe"] == report["universe"] and recent["masters"] < 40


def test_new_members_sectors_come_from_the_sector_files_tse33_map(tmp_path, standin, core30, capsys) -> None:
    # GIVEN the 2026 review's masters, with Oriental Land in a 33-sector code (9999) the shipped map lacks
    masters = masters_of(core30, calendar_for("XTKS"))
    staying = [member_row(m, "TOPIX Core30") for m in core30.spells_on(REVIEW) if m.ticker != "3382.T"]
    joining = master_row("46610", "Oriental Land", "TOPIX Core30", "9999", "Other")
    standin.masters = {**masters, REVIEW: [*staying, joining, OUTSIDER]}
    # AND a sector file that maps that code (the user edited YAML, not code)
    shipped = (CONFIG_DIR / "sectors.yaml").read_text(encoding="utf-8")
    mapped = tmp_path / "sectors.yaml"
    mapped.write_text(shipped + '  "9999": {name: "Other", sector: Consumer Cyclical}\n', encoding="utf-8")
    store = LocalStore(tmp_path / "store")
    # WHEN synced with it
    code, report, _ = sync(store, capsys, "--sectors", str(mapped))
    # THEN the new member takes the mapped sector and no sector is unknown
    assert code == 0 and report["unknown_sectors"] == []
    assert {"ticker": "4661.T", "name": "Oriental Land", "sector": "Consumer Cyclical", "since": REVIEW} in (
        report["universe"]["members"]
    )
    # AND a map onto a sector the embedding lacks is refused by name before any request
    mapped.write_text(shipped + '  "9999": {name: "Other", sector: Leisure}\n', encoding="utf-8")
    code, _, err = sync(store, capsys, "--sectors", str(mapped))
    assert code == 2 and "UnmappedSector" in err and "tse33.9999 (Other): sector 'Leisure'" in err


def test_a_rate_limit_storm_recovers_and_a_refused_key_writes_nothing(tmp_path, standin, core30, capsys) -> None:
    # GIVEN J-Quants rate-limiting the first requests (Retry-After: 0)
    standin.masters = masters_of(core30, calendar_for("XTKS"))
    standin.faults.rate_limited = 3
    store = LocalStore(tmp_path / "store")
    # THEN the sync waits and goes on
    code, report, _ = sync(store, capsys, "--since", "2026-01-05", "--write")
    assert code == 0 and report["added"] == [] and [e.status for e in standin.log[:4]] == [429, 429, 429, 200]
    # AND with a key J-Quants refuses: exit 2, what to set, nothing written
    standin.api_key = "another-key"
    code, _, err = sync(LocalStore(tmp_path / "refused"), capsys, "--write")
    assert code == 2 and "JQuantsAuthError" in err and "JQUANTS_API_KEY" in err
    assert not LocalStore(tmp_path / "refused").exists(universe_key("topix_core30"))


@pytest.mark.parametrize(
    ("masters", "why"),
    [
        ({"2011-10-28": [OUTSIDER]}, "lists no member of TOPIX Core30"),
        ({"2026-01-05": []}, "lists no member of TOPIX Core30"),
    ],
)
def test_the_sync_is_refused_for_an_empty_master(tmp_path, standin, capsys, masters, why) -> None:
    standin.masters = masters
    store = LocalStore(tmp_path / "store")
    code, _, err = sync(store, capsys, "--write")
    assert code == 2
    assert "UniverseSyncRefused" in err and why in err and "nothing written" in err
    assert not store.exists(universe_key("topix_core30"))


def test_a_master_that_drops_half_the_index_is_refused(tmp_path, standin, core30, capsys) -> None:
    masters = masters_of(core30, calendar_for("XTKS"))
    standin.masters = {
        **masters,
        "2024-03-01": [member_row(m, "TOPIX Core30") for m in core30.spells_on("2024-03-01")][:15],
    }
    store = LocalStore(tmp_path / "store")
    code, _, err = sync(store, capsys, "--write")
    assert code == 2 and "lists 15 members of TOPIX Core30, fewer than the 27" in err
    assert not store.exists(universe_key("topix_core30"))


def test_a_step_that_drops_more_than_a_review_does_is_refused(tmp_path, standin, core30, capsys) -> None:
    # GIVEN a master that swaps 11 of the 31 names for others (the count holds; no review drops a third of the index)
    members = [member_row(m, "TOPIX Core30") for m in core30.spells_on("2024-03-01")]
    others = [master_row(f"{1000 + i}0", f"Other {i}", "TOPIX Core30", "3600", "Machinery") for i in range(11)]
    standin.masters = {**masters_of(core30, calendar_for("XTKS")), "2024-03-01": members[11:] + others}
    store = LocalStore(tmp_path / "store")
    code, _, err = sync(store, capsys, "--write")
    assert code == 2 and "drop 11 members of TOPIX Core30, more than the 10" in err
    assert not store.exists(universe_key("topix_core30"))


def test_large70_and_topix100_are_synced_from_their_scale_categories(tmp_path, standin, core30, capsys) -> None:
    # GIVEN the Core30 replay plus 63 Large70 names throughout, and a universe file for each index (one placeholder
    # member: the sync replaces them)
    large = [master_row(f"{1000 + i}0", f"Large {i}", "TOPIX Large70", "3600", "Machinery") for i in range(63)]
    standin.masters = {day: rows + large for day, rows in masters_of(core30, calendar_for("XTKS")).items()}
    store = LocalStore(tmp_path / "store")
    files = {}
    for name in ("topix_large70", "topix_100"):
        head = f"env: local\nname: {name}\ndescription: x\nreviewed: 2025-10-31\nreview_month: 10\n"
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(
            head + "history_from: 2024-01-04\nmembers:\n  - {ticker: 7203.T, name: T, sector: Energy}\n"
        )
    large70 = {f"{1000 + i}.T" for i in range(63)}
    # WHEN each is synced from its ScaleCat values
    code, report, _ = sync(store, capsys, "--index", "TOPIX Large70", "--universe", str(files["topix_large70"]))
    # THEN Large70 has its names, TOPIX 100 the union with the Core30 (Sony Financial's 2025-09-29 join included)
    assert code == 0
    assert {m["ticker"] for m in report["universe"]["members"]} == large70
    assert report["removed"] == [{"date": "always", "change": "member", "ticker": "7203.T", "name": "T"}]
    code, report, _ = sync(store, capsys, "--index", "TOPIX 100", "--universe", str(files["topix_100"]))
    today = {m["ticker"] for m in report["universe"]["members"] if "until" not in m}
    assert code == 0 and today == large70 | set(core30.members_on(AS_OF))
    assert {
        "ticker": "8729.T",
        "name": "Sony Financial Group",
        "sector": "Financial Services",
        "since": "2025-09-29",
    } in (report["universe"]["members"])


def test_the_monthly_job_syncs_when_configured(tmp_path, standin, core30) -> None:
    # GIVEN the monthly job's enrich config with sync_universe: true, and J-Quants replaying the file
    standin.masters = masters_of(core30, calendar_for("XTKS"))
    config = tmp_path / "enrich.yaml"
    shipped = (CONFIG_DIR / "enrich_universe.yaml").read_text(encoding="utf-8")
    config.write_text(shipped.replace("sync_universe: false", "sync_universe: true"), encoding="utf-8")
    store = LocalStore(tmp_path / "store")
    # WHEN the monthly job settles its universe
    report, universe = build_monthly_job(str(config), source="sample").universe_for(store, pd.Timestamp(AS_OF))
    # THEN it synced and wrote the store's copy, which it works on
    assert report is not None and report["status"] == "ok" and report["written"]
    assert universe == stored_universe(store, core30) and universe.reviewed == REVIEW


@pytest.mark.parametrize("halt_division", ["1", "0"])
def test_the_calendar_check_lists_exactly_the_planted_disagreement(standin, capsys, halt_division) -> None:
    # GIVEN J-Quants' calendar built from XTKS, with Culture Day 2020-11-03 planted as a session and the
    # 2020-10-01 halt dated as a scheduled trading day ("1") or not ("0")
    rows = calendar_rows(calendar_for("XTKS"), "2020-09-01", "2020-12-31")
    for row in rows:
        row["HolDiv"] = {"2020-11-03": "1", "2020-10-01": halt_division}.get(row["Date"], row["HolDiv"])
    standin.calendar = rows
    # WHEN checked over the range
    argv = ["calendar", "--check", "jquants", "--since", "2020-09-01", "--until", "2020-12-31", "--as-of", "2020-12-31"]
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out[: out.rindex("}") + 1])
    # THEN that day alone disagrees, and the halt agrees whichever way J-Quants dates it
    assert report["disagreements"] == [{"date": "2020-11-03", "kabucast": False, "jquants": True}]
    assert report["halts"] == [{"date": "2020-10-01", "jquants_holdiv": halt_division}]
    assert "2020-11-03  kabucast: no session, J-Quants: a session" in out + err
    assert KEY not in out + err
