"""template.yaml read as data: schedules fire when intended, each function only touches its prefixes.

cfn-lint and `sam validate --lint` check the template's syntax in `make lint`; these tests check
what it means. The schedules are evaluated with a small AWS-cron evaluator over a whole month.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
from tests.template import load_template

DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


@pytest.fixture(scope="module")
def resources() -> dict:
    return load_template()["Resources"]


def _field(spec: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int]:
    """The values an AWS cron field matches (numbers, names, *, ?, lists and ranges)."""
    if spec in ("*", "?"):
        return set(range(lo, hi + 1))
    out: set[int] = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        first = (names or {}).get(a, None) or int(a)
        last = ((names or {}).get(b, None) or int(b)) if b else first
        out |= set(range(first, last + 1))
    return out


def fire_times(expression: str, tz: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every minute in [start, end) (in ``tz``) matched by ``cron(...)``, returned in UTC."""
    assert expression.startswith("cron(") and expression.endswith(")")
    minute, hour, dom, month, dow, _year = expression[5:-1].split()
    sets = (_field(minute, 0, 59), _field(hour, 0, 23), _field(dom, 1, 31), _field(month, 1, 12))
    weekdays = _field(dow, 1, 7, DAYS)
    zone, t, out = ZoneInfo(tz), start, []
    while t < end:
        local = t.replace(tzinfo=zone)
        aws_dow = local.isoweekday() % 7 + 1  # AWS: 1 = Sunday
        if (
            local.minute in sets[0]
            and local.hour in sets[1]
            and local.day in sets[2]
            and local.month in sets[3]
            and aws_dow in weekdays
        ):
            out.append(local.astimezone(dt.UTC))
        t += dt.timedelta(minutes=1)
    return out


def schedule(resources: dict, function: str) -> dict:
    (event,) = resources[function]["Properties"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    return event["Properties"]


def test_daily_fires_at_23_tokyo_monday_to_friday(resources) -> None:
    props = schedule(resources, "DailyPipelineFunction")
    assert props["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    fires = fire_times(props["ScheduleExpression"], "Asia/Tokyo", dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1))
    tokyo = [f.astimezone(ZoneInfo("Asia/Tokyo")) for f in fires]
    assert len(fires) == 21  # the weekdays of November 2026 (holidays are the handler's business)
    assert {(t.hour, t.minute) for t in tokyo} == {(23, 0)}
    assert {t.isoweekday() for t in tokyo} == {1, 2, 3, 4, 5}
    assert {(f.hour, f.isoweekday()) for f in fires} <= {(14, d) for d in range(1, 6)}  # 14:00 UTC, same day


def test_monthly_fires_at_midnight_tokyo_on_the_first(resources) -> None:
    props = schedule(resources, "MonthlyPipelineFunction")
    assert props["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    fires = fire_times(props["ScheduleExpression"], "Asia/Tokyo", dt.datetime(2026, 10, 31), dt.datetime(2026, 12, 2))
    tokyo = [f.astimezone(ZoneInfo("Asia/Tokyo")) for f in fires]
    assert [(t.month, t.day, t.hour, t.minute) for t in tokyo] == [(11, 1, 0, 0), (12, 1, 0, 0)]
    # in UTC that is 15:00 on the last day of the previous month: a UTC cron on day 1 would be wrong
    assert [(f.month, f.day, f.hour) for f in fires] == [(10, 31, 15), (11, 30, 15)]


def test_schedule_inputs_are_scheduler_events_for_their_job(resources) -> None:
    import json

    for function, job in (("DailyPipelineFunction", "daily"), ("MonthlyPipelineFunction", "monthly")):
        payload = json.loads(schedule(resources, function)["Input"])
        assert payload == {
            "source": "kabucast.scheduler",
            "job": job,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
        }


def _statements(resources: dict, function: str) -> list[dict]:
    """The function's S3 statements (the conditional J-Quants key policy is test_only_the_daily_function_...)."""
    return [
        s
        for policy in resources[function]["Properties"]["Policies"]
        if "Statement" in policy
        for s in policy["Statement"]
    ]


PARAMETER_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${JQuantsApiKeyParameter}"


def test_only_the_two_jobs_may_read_the_jquants_key_and_only_when_one_is_named(resources) -> None:
    jobs = ("DailyPipelineFunction", "MonthlyPipelineFunction")  # prices; the universe sync
    for function in jobs:
        conditional = [p for p in resources[function]["Properties"]["Policies"] if "Fn::If" in p]
        assert len(conditional) == 1
        condition, policy, otherwise = conditional[0]["Fn::If"]
        assert condition == "HasJQuantsKey" and otherwise == {"Ref": "AWS::NoValue"}
        statement, *more = policy["Statement"]
        assert {k: v for k, v in statement.items() if k != "Sid"} == {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": {"Fn::Sub": PARAMETER_ARN},
        }
        # with a key, the daily job also stores the champion's slow data from J-Quants, and nothing more
        slow = [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": {"Fn::Sub": "${DataBucket.Arn}/data/jquants/*"}}
        ]
        assert [{k: v for k, v in s.items() if k != "Sid"} for s in more] == (
            slow if function == "DailyPipelineFunction" else []
        )
        env = resources[function]["Properties"]["Environment"]["Variables"]
        assert env["JQUANTS_API_KEY_PARAMETER"]["Fn::If"][0] == "HasJQuantsKey"
    others = {name: r for name, r in resources.items() if name not in jobs}
    assert "ssm:" not in json.dumps(others) and "JQuantsApiKeyParameter" not in json.dumps(
        {n: r for n, r in others.items() if r["Type"] != "AWS::Serverless::Function"}
    )


def _prefixes(statement: dict) -> set[str]:
    return {r["Fn::Sub"].split("}/", 1)[1] for r in statement["Resource"]}


@pytest.mark.parametrize(
    ("function", "reads", "writes"),
    [
        (
            "DailyPipelineFunction",
            {"data/*", "models/*", "predictions/*", "portfolio/*", "scorecard/*", "site/*", "universe/*"},
            # the book, the scorecard and the page beside the forecast; the band state alone of models/
            {"data/prices/*", "predictions/*", "portfolio/*", "scorecard/*", "site/*", "models/bands.json"},
        ),
        ("MonthlyPipelineFunction", {"data/*", "models/*", "universe/*"}, {"data/static/*", "models/*", "universe/*"}),
    ],
)
def test_functions_may_only_touch_their_prefixes(resources, function: str, reads: set, writes: set) -> None:
    statements = _statements(resources, function)
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Action"]) for s in statements)
    by_action = {s["Action"]: s for s in statements}
    assert set(by_action) == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    assert _prefixes(by_action["s3:GetObject"]) == reads
    assert _prefixes(by_action["s3:PutObject"]) == writes
    assert by_action["s3:ListBucket"]["Condition"]["StringLike"]["s3:prefix"] == sorted(reads)


def test_failed_runs_are_retried_a_bounded_number_of_times_then_queued(resources) -> None:
    for function in ("DailyPipelineFunction", "MonthlyPipelineFunction"):
        cfg = resources[function]["Properties"]["EventInvokeConfig"]
        assert cfg["MaximumRetryAttempts"] <= 2
        assert cfg["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
        assert schedule(resources, function)["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": "FailedRunsQueue.Arn"}


def test_sizes_runtimes_and_packaging(resources) -> None:
    daily = resources["DailyPipelineFunction"]["Properties"]
    monthly = resources["MonthlyPipelineFunction"]["Properties"]
    assert (daily["Runtime"], daily["MemorySize"], daily["Timeout"]) == ("python3.12", 512, 600)
    assert daily["Layers"] == [{"Ref": "RuntimeLayer"}]
    assert (monthly["PackageType"], monthly["MemorySize"], monthly["Timeout"]) == ("Image", 3008, 900)
    # the image comes from `make monthly-image`, never from `sam build` (which would need Docker)
    assert monthly["ImageUri"] == {"Ref": "MonthlyImageUri"}
    assert "Dockerfile" not in resources["MonthlyPipelineFunction"].get("Metadata", {})
    layer = resources["RuntimeLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile" and layer["Properties"]["CompatibleRuntimes"] == [
        "python3.12"
    ]


def test_batch_resources_exist_only_when_enabled(resources) -> None:
    batch = [
        name
        for name, r in resources.items()
        if r["Type"].startswith(("AWS::Batch::", "AWS::ECR::")) and name != "MonthlyImageRepository"
    ]
    assert len(batch) == 4
    assert all(resources[name].get("Condition") in ("BatchEnabled", "BatchHasImage") for name in batch)


def test_images_are_immutable_and_named_by_digest(resources) -> None:
    # checkov CKV_AWS_51: a tag never moves to another image
    repositories = [r for r in resources.values() if r["Type"] == "AWS::ECR::Repository"]
    assert len(repositories) == 2
    assert all(r["Properties"]["ImageTagMutability"] == "IMMUTABLE" for r in repositories)
    parameters = load_template()["Parameters"]
    repo = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/kabucast-jobs-dev"
    for name in ("MonthlyImageUri", "BatchImageUri"):
        pattern = re.compile(parameters[name]["AllowedPattern"])
        assert pattern.fullmatch(f"{repo}@sha256:{'a' * 64}") and pattern.fullmatch("")
        assert not pattern.fullmatch(f"{repo}:latest") and not pattern.fullmatch(f"{repo}:0f3a-20261207T120000Z")
    image = resources["BatchJobDefinition"]["Properties"]["ContainerProperties"]["Image"]
    assert image == {"Ref": "BatchImageUri"}


def test_bucket_is_private_encrypted_versioned_and_tls_only(resources) -> None:
    props = resources["DataBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    (deny,) = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _expiring_after(resources: dict, key: str) -> list[object]:
    """The ``ExpirationInDays`` of every lifecycle rule whose prefix (the rules' only filter) selects ``key``."""
    rules = resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    return [r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r and key.startswith(r.get("Prefix", ""))]


def test_dated_documents_expire_after_the_retention_and_latest_json_never(resources) -> None:
    from kabucast.jobs.publish import FORECASTS, PORTFOLIOS, SCORECARDS, adhoc_key

    retention = {"Ref": "PredictionRetentionDays"}
    for kind in (FORECASTS, PORTFOLIOS, SCORECARDS):  # the daily job publishes all three by the same rules
        # the dated documents and a subset run's, under exactly one rule each
        for day in ("2026-11-20", "2099-12-30"):
            assert _expiring_after(resources, kind.dated_key(day)) == [retention]
        if kind is not SCORECARDS:  # a subset run writes no scorecard
            assert _expiring_after(resources, adhoc_key("2026-11-20", ["7203.T"], kind)) == [retention]
        # never the pointer consumers read, however long since it was last written
        assert _expiring_after(resources, kind.latest_key) == []
    kept_keys = (
        "models/champion.json",
        "models/bands.json",
        "data/prices/7203.T.parquet",
        "data/static/2026-11-01.parquet",
    )
    for kept in (*kept_keys, "site/index.html"):
        assert _expiring_after(resources, kept) == []


# ---------------------------------------------------------------- what a deploy creates, per parameters


def _value(node, params: dict, conditions: dict):
    """A condition expression or a parameter reference, evaluated."""
    if isinstance(node, dict):
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return params[arg]
        if fn in ("Condition", "Fn::Condition"):  # `!Condition X` as tests/template.py loads it
            return conditions[arg]
        if fn == "Fn::Equals":
            return str(_value(arg[0], params, conditions)) == str(_value(arg[1], params, conditions))
        if fn == "Fn::Not":
            return not _value(arg[0], params, conditions)
        if fn == "Fn::And":
            return all(_value(a, params, conditions) for a in arg)
        if fn == "Fn::Or":
            return any(_value(a, params, conditions) for a in arg)
        raise AssertionError(f"unhandled {fn}")
    return node


def _references(node, conditions: dict) -> set[str]:
    """Logical ids a property tree refers to (Ref, GetAtt, Sub), following only the taken Fn::If branch."""
    import re

    if isinstance(node, list):
        return set().union(*(_references(n, conditions) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    if set(node) == {"Fn::If"}:
        name, yes, no = node["Fn::If"]
        return _references(yes if conditions[name] else no, conditions)
    if set(node) == {"Ref"}:
        return {node["Ref"]}
    if set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        return {target.split(".")[0] if isinstance(target, str) else target[0]}
    if set(node) == {"Fn::Sub"}:
        text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
        return {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
    return set().union(*(_references(v, conditions) for v in node.values())) if node else set()


def deployed(overrides: dict[str, str]) -> tuple[dict, dict]:
    """The resources and outputs CloudFormation would create: SAM's own transform of template.yaml
    (samtranslator, as `sam deploy` runs it), then the conditions evaluated for ``overrides``."""
    import os
    from unittest import mock

    from samtranslator.translator.transform import transform
    from tests.template import load_template

    template = load_template()
    props = template["Resources"]
    props["DailyPipelineFunction"]["Properties"]["CodeUri"] = "s3://artifacts/daily.zip"  # as `sam package` leaves it
    props["RuntimeLayer"]["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "ap-northeast-1"}):
        out = transform(template, dict(overrides), None)
    params = {k: str(v.get("Default", "")) for k, v in out["Parameters"].items()}
    params |= overrides | {"AWS::Region": "ap-northeast-1", "AWS::AccountId": "123456789012"}
    conditions: dict[str, bool] = {}
    for name, expr in out["Conditions"].items():
        conditions[name] = _value(expr, params, conditions)
    for rule, body in out.get("Rules", {}).items():
        if _value(body.get("RuleCondition", True), params, conditions):
            for a in body["Assertions"]:
                assert _value(a["Assert"], params, conditions), f"rule {rule}: {a['AssertDescription']}"
    created = {k: r for k, r in out["Resources"].items() if conditions.get(r.get("Condition"), True)}
    outputs = {k: o for k, o in out["Outputs"].items() if conditions.get(o.get("Condition"), True)}
    for name, body in {**created, **outputs}.items():
        dangling = _references(body, conditions) - set(created) - set(params) - {"AWS::Partition", "AWS::NoValue"}
        assert not dangling, f"{name} refers to {dangling}, which this deploy does not create"
    return created, outputs


def test_enable_monthly_false_deploys_the_daily_job_alone() -> None:
    created, outputs = deployed({"EnableMonthly": "false"})
    assert not [name for name in created if name.startswith("MonthlyPipeline")]
    assert {"DailyPipelineFunction", "DailyPipelineFunctionAfterTokyoClose", "MonthlyImageRepository"} <= set(created)
    assert "MonthlyPipelineFunctionArn" not in outputs and "MonthlyImageRepositoryUri" in outputs


def test_enable_monthly_true_creates_the_function_its_schedule_and_logs_from_the_pushed_image() -> None:
    image = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/kabucast-monthly-dev@sha256:" + "a" * 64
    created, outputs = deployed({"EnableMonthly": "true", "MonthlyImageUri": image})
    assert created["MonthlyPipelineFunction"]["Properties"]["Code"] == {"ImageUri": {"Ref": "MonthlyImageUri"}}
    assert {"MonthlyPipelineFunctionFirstOfMonth", "MonthlyPipelineLogGroup", "MonthlyPipelineFunctionRole"} <= set(
        created
    )
    assert "MonthlyPipelineFunctionArn" in outputs


def test_batch_gets_its_job_definition_once_the_pushed_image_is_deployed_by_digest() -> None:
    # GIVEN EnableBatch=true before any image is pushed: the repository, queue and compute environment only
    created, outputs = deployed({"EnableBatch": "true"})
    assert {"JobImageRepository", "BatchJobQueue", "BatchComputeEnvironment"} <= set(created)
    assert "BatchJobDefinition" not in created and "BatchJobDefinitionArn" not in outputs
    # WHEN `make job-image` has pushed it and the stack is deployed with the digest it printed
    image = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/kabucast-jobs-dev@sha256:" + "b" * 64
    created, outputs = deployed({"EnableBatch": "true", "BatchImageUri": image})
    # THEN the job definition runs exactly that image
    assert created["BatchJobDefinition"]["Properties"]["ContainerProperties"]["Image"] == {"Ref": "BatchImageUri"}
    assert "BatchJobDefinitionArn" in outputs


def test_enable_monthly_without_an_image_is_refused_by_a_rule() -> None:
    with pytest.raises(AssertionError, match="make monthly-image"):
        deployed({"EnableMonthly": "true"})


def _emf(out: str) -> dict:
    (blob,) = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return blob


def test_a_ticker_missing_for_n_sessions_alarms_on_what_the_daily_function_publishes(resources, capsys) -> None:
    from kabucast.serverless import observability

    alarm = resources["MissingTickerAlarm"]["Properties"]
    parameter = load_template()["Parameters"]["MissingSessionsAlarmThreshold"]
    assert alarm["Threshold"] == {"Ref": "MissingSessionsAlarmThreshold"} and parameter["Default"] == 3
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Maximum", "GreaterThanOrEqualToThreshold")
    # GIVEN a published daily run whose document misses 7203.T for the 3rd session and 6758.T for the 1st
    missing = [
        {"ticker": "6758.T", "reason": "fetch failed: no data", "sessions_missing": 1},
        {"ticker": "7203.T", "reason": "stale prices", "sessions_missing": 3},
    ]
    predict = {"scope": "universe", "predicted": 29, "missing": missing}
    summary = {"status": "ok", "date": "2026-11-20", "predict": predict}
    capsys.readouterr()
    # WHEN the function reports it
    observability.start("daily", None)
    observability.finished(summary, 1.0, 0)
    blob = _emf(capsys.readouterr().out)
    # THEN its EMF blob carries the alarm's metric under the alarm's namespace and dimensions, at the threshold
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == alarm["Namespace"]
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {n: blob[n] for n in directive["Dimensions"][0]}
    assert blob[alarm["MetricName"]] == [parameter["Default"]] and blob["MissingTickers"] == [2]
    # AND a subset run's gaps publish no such metric (an operator's ad-hoc run never trips the alarm)
    observability.start("daily", None)
    observability.finished({**summary, "predict": {**predict, "scope": "adhoc"}}, 1.0, 0)
    assert alarm["MetricName"] not in _emf(capsys.readouterr().out)


def test_a_failed_run_of_either_job_alarms_even_when_the_handler_answers_it(resources, capsys) -> None:
    from kabucast.errors import InvalidDate
    from kabucast.serverless import observability

    alarm = resources["RunFailedAlarm"]["Properties"]
    (total,) = [m for m in alarm["Metrics"] if m["ReturnData"]]
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert total["Expression"] == f"SUM([{', '.join(stats)}])"
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        0,
        "GreaterThanThreshold",
        "notBreaching",
    )
    by_job = {next(d["Value"] for d in s["Metric"]["Dimensions"] if d["Name"] == "job"): s for s in stats.values()}
    assert set(by_job) == {"daily", "monthly"} and {s["Stat"] for s in stats.values()} == {"Sum"}
    capsys.readouterr()
    for job, stat in by_job.items():
        # GIVEN a run stopped by a usage error that the handler answers instead of raising (nothing retries it)
        observability.start(job, None)
        try:
            raise InvalidDate("as of 1999-12-31 there is no labelled sample to fine-tune on")
        except InvalidDate as exc:
            observability.failed(exc, job, 1.0, None, raised=False)
        blob = _emf(capsys.readouterr().out)
        # THEN its EMF blob counts RunFailed under the namespace and dimensions the alarm sums
        directive, metric = blob["_aws"]["CloudWatchMetrics"][0], stat["Metric"]
        assert directive["Namespace"] == metric["Namespace"]
        assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {n: blob[n] for n in directive["Dimensions"][0]}
        assert blob[metric["MetricName"]] == [1.0]


def test_the_live_skill_alarm_reads_the_live_rankic_and_its_floor_the_daily_function_publishes(
    resources, capsys
) -> None:
    from kabucast.serverless import observability

    alarm = resources["LiveSkillAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    (expression,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert expression["Expression"] == "live - floor" and alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 0
    # GIVEN a full daily run whose scorecard has 60 matured month-1 dates, below the champion's walk-forward floor
    live = {"rankic_1m": -0.04, "rankic_1m_floor": 0.01, "coverage_12m": 0.77, "portfolio_return": None}
    predict = {"scope": "universe", "predicted": 31, "missing": [], "scorecard": {"status": "ok", "live": live}}
    capsys.readouterr()
    # WHEN the function reports it
    observability.start("daily", None)
    observability.finished({"status": "ok", "date": "2026-11-20", "predict": predict}, 1.0, 0)
    blob = _emf(capsys.readouterr().out)
    # THEN the alarm's two metrics are in its blob, under the alarm's namespace and dimensions: the margin is < 0
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    for stat in stats.values():
        metric = stat["Metric"]
        assert directive["Namespace"] == metric["Namespace"]
        assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {n: blob[n] for n in directive["Dimensions"][0]}
    live_value, floor_value = blob[stats["live"]["Metric"]["MetricName"]], blob[stats["floor"]["Metric"]["MetricName"]]
    assert live_value[0] - floor_value[0] < alarm["Threshold"]
    assert blob["LiveCoverage12m"] == [0.77] and "LivePortfolioReturn" not in blob  # a figure that does not exist yet
    # AND before 60 dates have matured, no live RankIC is published: the alarm sees missing data, not a breach
    early = {**predict, "scorecard": {"status": "ok", "live": {**live, "rankic_1m": None}}}
    observability.start("daily", None)
    observability.finished({"status": "ok", "date": "2026-11-20", "predict": early}, 1.0, 0)
    assert "LiveRankIC1m" not in _emf(capsys.readouterr().out) and alarm["TreatMissingData"] == "notBreaching"
