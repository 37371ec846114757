"""The J-Quants source's own logic (kabucast.data.sources.jquants_source, jquants_key): the key that never shows
itself, J-Quants' rows as canonical bars, the retry policy against a scripted client. The real client against a
stand-in of the API is tests/functional/test_jquants.py."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
import requests

from kabucast.config import RetrySettings
from kabucast.data.sources.jquants_key import ApiKey, MissingApiKey, api_key, forget_cached_keys
from kabucast.data.sources.jquants_source import (
    MAX_RETRY_AFTER_S,
    JQuantsAuthError,
    JQuantsSource,
    JQuantsUnavailable,
    bars_frame,
)

SECRET = "s3cr3t-key-value"
DAY = pd.Timestamp("2026-11-20")


def test_the_key_never_shows_itself() -> None:
    key = ApiKey(SECRET)
    shown = [repr(key), str(key), f"{key}", f"{[key]}", f"{ {'key': key} }"]
    assert all(SECRET not in text for text in shown) and "16 characters" in repr(key)
    assert key.reveal() == SECRET
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(MissingApiKey, match="set JQUANTS_API_KEY"):
        ApiKey("  ")


def test_the_key_comes_from_the_environment_else_from_ssm_once() -> None:
    forget_cached_keys()
    assert api_key({"JQUANTS_API_KEY": SECRET}).reveal() == SECRET
    calls = []

    class Ssm:
        def get_parameter(self, Name: str, WithDecryption: bool) -> dict:
            calls.append((Name, WithDecryption))
            return {"Parameter": {"Value": SECRET}}

    env = {"JQUANTS_API_KEY_PARAMETER": "/kabucast/jquants-api-key"}
    assert api_key(env, ssm=Ssm).reveal() == SECRET and api_key(env, ssm=Ssm).reveal() == SECRET
    assert calls == [("/kabucast/jquants-api-key", True)]  # read once, decrypted, cached for the process
    forget_cached_keys()
    with pytest.raises(MissingApiKey, match="JQUANTS_API_KEY_PARAMETER"):
        api_key({})


def rows(**changes) -> pd.DataFrame:
    base = {
        "Date": ["2026-11-18", "2026-11-19", "2026-11-20"],
        "Code": ["72030"] * 3,
        "AdjO": [100.0, None, 102.0],  # no trade on the 19th: no price
        "AdjH": [101.0, None, 103.0],
        "AdjL": [99.0, None, 101.0],
        "AdjC": [100.5, None, 102.5],
        "AdjVo": [1000.0, 0.0, 1200.0],
    }
    return pd.DataFrame({**base, **changes})


def test_rows_become_canonical_bars_without_the_days_with_no_trade() -> None:
    frame = bars_frame(rows(), pd.Timestamp("2026-11-01"), DAY)
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2026-11-18", "2026-11-20"]
    assert frame["close"].tolist() == [100.5, 102.5] and (frame["adj_close"] == frame["close"]).all()
    assert frame["volume"].tolist() == [1000, 1200] and str(frame.index.dtype) == "datetime64[ns]"
    assert bars_frame(rows(), pd.Timestamp("2026-11-21"), pd.Timestamp("2026-11-30")) is None
    with pytest.raises(Exception, match="lack the fields"):
        bars_frame(rows().drop(columns="AdjVo"), pd.Timestamp("2026-11-01"), DAY)


class Response:
    def __init__(self, status: int, headers: dict | None = None) -> None:
        self.status_code, self.headers, self.reason = status, headers or {}, "reason"

    def json(self) -> dict:
        return {"message": f"status {self.status_code}"}


class ScriptedClient:
    """Answers each request with the next item of ``script``: an exception to raise, or rows."""

    def __init__(self, script: list) -> None:
        self.script, self.calls = list(script), 0

    def get_eq_bars_daily(self, **params) -> pd.DataFrame:
        self.calls += 1
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def source(script: list, attempts: int = 4) -> tuple[JQuantsSource, ScriptedClient, list[float]]:
    client, waits = ScriptedClient(script), []
    src = JQuantsSource(ApiKey(SECRET), "http://stand-in/v2", RetrySettings(attempts, 2.0), sleep=waits.append,
                        client=lambda *_: client)  # fmt: skip
    return src, client, waits


def http_error(status: int, headers: dict | None = None) -> requests.HTTPError:
    return requests.HTTPError(f"{status}", response=Response(status, headers))


def test_429_waits_what_the_service_asks_capped_and_5xx_backs_off() -> None:
    src, client, waits = source([http_error(429, {"Retry-After": "3"}), http_error(429, {"Retry-After": "9999"}),
                                 http_error(503), rows()])  # fmt: skip
    got = src.fetch_prices(["7203.T"], pd.Timestamp("2026-11-01"), DAY)
    assert "7203.T" in got.frames and client.calls == 4
    assert waits == [3.0, MAX_RETRY_AFTER_S, 2.0 * 2**2]  # Retry-After, capped; then the backoff of attempt 3


def test_a_name_that_never_answers_fails_alone_and_a_dead_service_fails_the_run() -> None:
    src, _, _ = source([requests.ConnectionError("down")] * 4 + [rows()], attempts=4)
    got = src.fetch_prices(["7203.T", "6758.T"], pd.Timestamp("2026-11-01"), DAY)
    assert "unreachable" in got.failures["7203.T"] and "gave up after 4 attempts" in got.failures["7203.T"]
    assert list(got.frames) == ["6758.T"]
    src, _, _ = source([requests.Timeout("slow")] * 8)
    with pytest.raises(JQuantsUnavailable, match="answered none of 2 tickers"):
        src.fetch_prices(["7203.T", "6758.T"], pd.Timestamp("2026-11-01"), DAY)


def test_a_refused_key_stops_at_once_and_a_bad_request_is_not_retried() -> None:
    src, client, _ = source([http_error(401)])
    with pytest.raises(JQuantsAuthError, match="refused the API key"):
        src.fetch_prices(["7203.T", "6758.T"], pd.Timestamp("2026-11-01"), DAY)
    assert client.calls == 1
    src, client, _ = source([http_error(400), rows()])
    got = src.fetch_prices(["7203.T", "6758.T"], pd.Timestamp("2026-11-01"), DAY)
    assert got.failures["7203.T"].startswith("J-Quants refused bars of 7203.T (400") and client.calls == 2


def test_tickers_map_to_jquants_codes() -> None:
    seen = []

    class Client(ScriptedClient):
        def get_eq_bars_daily(self, **params) -> pd.DataFrame:
            seen.append(params["code"])
            return rows()

    src = JQuantsSource(ApiKey(SECRET), "http://x/v2", client=lambda *_: Client([]))
    got = src.fetch_prices(["7203.T", "130A.T", "AAPL", "7203"], pd.Timestamp("2026-11-01"), DAY)
    assert seen == ["72030", "130A0"] and set(got.failures) == {"AAPL", "7203"}
