"""FileSource on small CSV and parquet files written in tmp_path.

Parquet is written with fastparquet's own ``fastparquet.write`` (the project's engine; pandas 3.1
deprecates ``to_parquet(engine="fastparquet")``, and pyarrow is not installed).
"""

from __future__ import annotations

from pathlib import Path

import fastparquet
import numpy as np
import pandas as pd
import pytest

from kabucast.data.prices import PRICE_COLUMNS
from kabucast.data.sources.file_source import NO_FUNDAMENTALS, FileSource
from kabucast.errors import PriceValidationError, SourceError

START, END = pd.Timestamp("2024-07-01"), pd.Timestamp("2024-07-05")
DATES = ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-04", "2024-07-05"]


def bars(close: float, dates: list[str] = DATES) -> pd.DataFrame:
    """Five sessions of plausible bars, as a user would export them (capitalised, Yahoo-style names)."""
    c = close + np.arange(len(dates), dtype=float)
    return pd.DataFrame(
        {
            "Date": dates,
            "Open": c - 1,
            "High": c + 2,
            "Low": c - 2,
            "Close": c,
            "Adj Close": c - 0.5,
            "Volume": 1_000_000 + np.arange(len(dates)),
        }
    )


def long_format(**closes: float) -> pd.DataFrame:
    return pd.concat([bars(c).assign(Ticker=t) for t, c in closes.items()], ignore_index=True)


def test_long_csv_gives_canonical_frames(tmp_path: Path) -> None:
    # GIVEN a long-format CSV with "Adj Close"-style headers for two tickers
    path = tmp_path / "prices.csv"
    long_format(**{"7203.T": 3000.0, "6758.T": 2900.0}).to_csv(path, index=False)
    # WHEN one of them and a ticker the file lacks are asked for
    got = FileSource(path).fetch_prices(["7203.T", "9984.T"], START, END)
    # THEN the present one is a canonical frame with the file's values; the absent one is a failure
    frame = got.frames["7203.T"]
    assert tuple(frame.columns) == PRICE_COLUMNS and frame.index.name == "date"
    assert list(frame.index) == [pd.Timestamp(d) for d in DATES]
    assert frame["close"].tolist() == [3000.0, 3001.0, 3002.0, 3003.0, 3004.0]
    assert frame["adj_close"].tolist() == [2999.5, 3000.5, 3001.5, 3002.5, 3003.5]
    assert frame["volume"].dtype == np.int64 and frame["volume"].iloc[0] == 1_000_000
    assert list(got.frames) == ["7203.T"]
    assert "9984.T is not in" in got.failures["9984.T"] and str(path) in got.failures["9984.T"]


def test_long_parquet_without_adj_close_copies_close(tmp_path: Path) -> None:
    # GIVEN a long-format parquet with lower-case names and no adj_close column
    path = tmp_path / "prices.parquet"
    table = long_format(**{"7203.T": 3000.0}).drop(columns="Adj Close")
    table.columns = [c.lower() for c in table.columns]
    fastparquet.write(str(path), table)
    # WHEN read
    frame = FileSource(path).fetch_prices(["7203.T"], START, END).frames["7203.T"]
    # THEN adj_close is the close (documented: no dividend adjustment)
    assert (frame["adj_close"] == frame["close"]).all()


def test_folder_of_per_ticker_files(tmp_path: Path) -> None:
    # GIVEN a folder with 7203.T.csv and 6758.T.parquet (the latter indexed by date, as the store writes them)
    bars(3000.0).to_csv(tmp_path / "7203.T.csv", index=False)
    fastparquet.write(
        str(tmp_path / "6758.T.parquet"), bars(2900.0).assign(Date=pd.to_datetime(DATES)).set_index("Date")
    )
    # WHEN three tickers are asked for
    got = FileSource(tmp_path).fetch_prices(["7203.T", "6758.T", "9984.T"], START, END)
    # THEN both files are read and the ticker without a file is a failure naming the folder
    assert got.frames["7203.T"]["close"].iloc[0] == 3000.0
    assert got.frames["6758.T"]["close"].iloc[0] == 2900.0
    assert got.failures == {"9984.T": f"no file 9984.T.csv or 9984.T.parquet in {tmp_path}"}


def test_window_is_inclusive_and_a_ticker_outside_it_fails(tmp_path: Path) -> None:
    # GIVEN a long file where 6758.T only has bars in June
    path = tmp_path / "prices.csv"
    june = bars(2900.0, ["2024-06-24", "2024-06-25"]).assign(Ticker="6758.T")
    pd.concat([long_format(**{"7203.T": 3000.0}), june]).to_csv(path, index=False)
    # WHEN 2024-07-02..2024-07-04 is asked for
    got = FileSource(path).fetch_prices(["7203.T", "6758.T"], pd.Timestamp("2024-07-02"), pd.Timestamp("2024-07-04"))
    # THEN both ends are included for 7203.T, and 6758.T is a failure saying why
    assert list(got.frames["7203.T"].index) == [pd.Timestamp(d) for d in DATES[1:4]]
    assert "no rows for 6758.T from 2024-07-02 to 2024-07-04" in got.failures["6758.T"]


def test_dates_with_a_utc_offset_become_jst_dates(tmp_path: Path) -> None:
    # GIVEN dates exported as UTC instants of the JST midnights (2024-06-30T15:00Z is 2024-07-01 in Tokyo)
    path = tmp_path / "prices.csv"
    stamps = [(pd.Timestamp(d, tz="Asia/Tokyo").tz_convert("UTC")).isoformat() for d in DATES]
    long_format(**{"7203.T": 3000.0}).assign(Date=stamps).to_csv(path, index=False)
    # WHEN read
    frame = FileSource(path).fetch_prices(["7203.T"], START, END).frames["7203.T"]
    # THEN the index holds the JST trading dates, tz-naive
    assert frame.index.tz is None and list(frame.index) == [pd.Timestamp(d) for d in DATES]


def test_a_value_that_is_not_a_number_names_file_and_column(tmp_path: Path) -> None:
    # GIVEN a long CSV with "n/a?" in the close column
    path = tmp_path / "prices.csv"
    table = long_format(**{"7203.T": 3000.0}).astype({"Close": object})
    table.loc[2, "Close"] = "n/a?"
    table.to_csv(path, index=False)
    # WHEN read, THEN the error names the file, the column and the row
    with pytest.raises(PriceValidationError, match=r"prices\.csv: column 'close': 'n/a\?' \(data row 3\)"):
        FileSource(path).fetch_prices(["7203.T"], START, END)


def test_a_missing_column_names_file_and_column(tmp_path: Path) -> None:
    # GIVEN a long CSV without volume
    path = tmp_path / "prices.csv"
    long_format(**{"7203.T": 3000.0}).drop(columns="Volume").to_csv(path, index=False)
    # WHEN read, THEN the error names the file and the missing column
    with pytest.raises(PriceValidationError, match=r"prices\.csv: missing column\(s\) \['volume'\]"):
        FileSource(path).fetch_prices(["7203.T"], START, END)


def test_a_bad_date_names_the_column(tmp_path: Path) -> None:
    # GIVEN a date that is not one
    path = tmp_path / "prices.csv"
    table = long_format(**{"7203.T": 3000.0})
    table.loc[0, "Date"] = "first of July"
    table.to_csv(path, index=False)
    # WHEN read, THEN the error names the date column and the value
    with pytest.raises(PriceValidationError, match=r"column 'date': 'first of July'"):
        FileSource(path).fetch_prices(["7203.T"], START, END)


def test_a_single_file_without_ticker_column_says_what_to_do(tmp_path: Path) -> None:
    # GIVEN one ticker's bars in a file that is not in long format
    path = tmp_path / "toyota.csv"
    bars(3000.0).to_csv(path, index=False)
    # WHEN read, THEN the error asks for long format or a folder
    with pytest.raises(PriceValidationError, match=r"no column 'ticker'.*folder"):
        FileSource(path).fetch_prices(["7203.T"], START, END)


@pytest.mark.parametrize("name", ["missing.csv", "prices.xlsx", "broken.parquet"])
def test_unreadable_files_are_source_errors_naming_the_file(tmp_path: Path, name: str) -> None:
    # GIVEN a path that does not exist, has an unsupported type, or is not parquet inside
    path = tmp_path / name
    if name != "missing.csv":
        path.write_text("this is not a table\x00\x01", encoding="utf-8")
    # WHEN read, THEN a SourceError names the file
    with pytest.raises(SourceError, match=name.replace(".", r"\.")):
        FileSource(path).fetch_prices(["7203.T"], START, END)


def test_in_a_folder_a_bad_file_fails_only_its_ticker(tmp_path: Path) -> None:
    # GIVEN a folder where 6758.T.csv lacks the close column
    bars(3000.0).to_csv(tmp_path / "7203.T.csv", index=False)
    bars(2900.0).drop(columns="Close").to_csv(tmp_path / "6758.T.csv", index=False)
    # WHEN both are fetched
    got = FileSource(tmp_path).fetch_prices(["7203.T", "6758.T"], START, END)
    # THEN 7203.T is served and 6758.T fails with the file and column named
    assert list(got.frames) == ["7203.T"]
    assert "6758.T.csv: missing column(s) ['close']" in got.failures["6758.T"]


def test_duplicate_dates_fail_that_ticker(tmp_path: Path) -> None:
    # GIVEN a long file with 6758.T's first session twice
    path = tmp_path / "prices.csv"
    table = long_format(**{"7203.T": 3000.0, "6758.T": 2900.0})
    pd.concat([table, table[table["Ticker"] == "6758.T"].head(1)]).to_csv(path, index=False)
    # WHEN both are fetched
    got = FileSource(path).fetch_prices(["7203.T", "6758.T"], START, END)
    # THEN 6758.T fails naming the date, 7203.T is fine
    assert "6758.T has more than one row for 2024-07-01" in got.failures["6758.T"]
    assert "7203.T" in got.frames


def test_files_have_no_fundamentals(tmp_path: Path) -> None:
    # GIVEN a file source
    source = FileSource(tmp_path / "prices.csv")
    # WHEN fundamentals are asked for
    got = source.fetch_info(["7203.T", "6758.T"])
    # THEN every ticker is a failure with the documented reason (and no file was touched)
    assert got.info == {}
    assert got.failures == {"7203.T": NO_FUNDAMENTALS, "6758.T": NO_FUNDAMENTALS}
