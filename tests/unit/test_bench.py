"""The benchmark's pure helpers: percentiles, lag matching, tables, metrics parsing (no timing)."""
from datetime import datetime, timezone

import pytest

from devtools import bench


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 101))
    assert bench.percentile(values, 50) == pytest.approx(50.5)
    assert bench.percentile(values, 0) == 1
    assert bench.percentile(values, 100) == 100
    assert bench.percentile(values, 99) == pytest.approx(99.01)


def test_percentile_of_unsorted_single_and_empty():
    assert bench.percentile([3, 1, 2], 50) == 2
    assert bench.percentile([7], 99) == 7.0
    assert bench.percentile([], 50) is None


def test_summarize_and_scaled():
    summary = bench.summarize([0.001, 0.002, 0.003, 0.004])
    assert summary["count"] == 4
    assert summary["max"] == 0.004
    assert summary["mean"] == pytest.approx(0.0025)
    ms = bench.scaled(summary, 1000.0)
    assert ms["count"] == 4
    assert ms["p50"] == pytest.approx(2.5)
    assert ms["max"] == pytest.approx(4.0)
    empty = bench.scaled(bench.summarize([]), 1000.0)
    assert empty == {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}


def test_parse_timestamp_accepts_offsets_and_z():
    expected = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
    assert bench.parse_timestamp("2026-05-01T12:00:00.250000+00:00") == expected
    assert bench.parse_timestamp("2026-05-01T12:00:00.250Z") == expected
    assert bench.parse_timestamp("2026-05-01T14:00:00.250+02:00") == expected


def test_match_lags_pairs_by_redemption_id_and_reports_missing():
    created = {
        "r1": "2026-05-01T12:00:00+00:00",
        "r2": "2026-05-01T12:00:01+00:00",
        "r3": "2026-05-01T12:00:02+00:00",
    }
    entries = [
        {"kind": "redemption", "redemption_id": "r1", "recorded_at": "2026-05-01T12:00:00.040+00:00"},
        {"kind": "redemption", "redemption_id": "r2", "recorded_at": "2026-05-01T14:00:01.5+02:00"},
        {"kind": "redemption", "redemption_id": "other", "recorded_at": "2026-05-01T12:00:03+00:00"},
        {"kind": "reversal", "redemption_id": "r3", "recorded_at": "2026-05-01T12:00:09+00:00"},
    ]
    lags, missing = bench.match_lags(created, entries)
    assert lags == {"r1": pytest.approx(0.04), "r2": pytest.approx(0.5)}
    assert missing == ["r3"]


def test_match_lags_with_nothing_recorded():
    lags, missing = bench.match_lags({"b": "2026-05-01T12:00:00+00:00", "a": "2026-05-01T12:00:00+00:00"}, [])
    assert lags == {}
    assert missing == ["a", "b"]


def test_oldest_recorded_before_looks_at_the_last_item_of_a_newest_first_page():
    cutoff = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    page = [{"recorded_at": "2026-05-01T12:05:00+00:00"}, {"recorded_at": "2026-05-01T12:01:00+00:00"}]
    assert not bench.oldest_recorded_before(page, cutoff)
    page.append({"recorded_at": "2026-05-01T11:59:59+00:00"})
    assert bench.oldest_recorded_before(page, cutoff)
    assert bench.oldest_recorded_before([], cutoff)


def test_count_outcomes_mixes_statuses_and_exception_names():
    assert bench.count_outcomes([201, 201, 409, "ConnectionError", 201]) == {
        "201": 3, "409": 1, "ConnectionError": 1}


def test_format_table_aligns_columns():
    text = bench.format_table([["throughput", "350.2", "redemptions/s"], ["p99", "12.0", "ms"]],
                              ["figure", "value", "unit"], align="lrl")
    lines = text.splitlines()
    assert lines[0].split() == ["figure", "value", "unit"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("throughput  350.2  redemptions/s")
    assert lines[3].startswith("p99          12.0  ms")
    assert all(line == line.rstrip() for line in lines)


def test_format_table_pads_short_rows_and_blanks_none():
    text = bench.format_table([["a", None], ["bb"]])
    assert text.splitlines() == ["a", "bb"]
    assert bench.format_table([]) == ""


def test_fmt():
    assert bench.fmt(None) == "-"
    assert bench.fmt(3.14159, 2) == "3.14"
    assert bench.fmt(50, 0, "%") == "50%"


def test_parse_prometheus_and_histogram_means():
    before = bench.parse_prometheus(
        '# HELP x\n'
        'vowrewards_entrypoint_duration_seconds_sum{kind="rpc",method="redeem",outcome="ok",service="redemption"} 1.0\n'
        'vowrewards_entrypoint_duration_seconds_count{kind="rpc",method="redeem",outcome="ok",service="redemption"} 10.0\n')
    after = bench.parse_prometheus(
        'vowrewards_entrypoint_duration_seconds_sum{kind="rpc",method="redeem",outcome="ok",service="redemption"} 3.0\n'
        'vowrewards_entrypoint_duration_seconds_count{kind="rpc",method="redeem",outcome="ok",service="redemption"} 30.0\n'
        'vowrewards_entrypoint_duration_seconds_sum{kind="rpc",method="redeem",outcome="error",service="redemption"} 0.5\n'
        'vowrewards_entrypoint_duration_seconds_count{kind="rpc",method="redeem",outcome="error",service="redemption"} 5.0\n'
        'vowrewards_entrypoint_duration_seconds_sum{kind="rpc",method="idle",outcome="ok",service="redemption"} 1.0\n'
        'vowrewards_entrypoint_duration_seconds_count{kind="rpc",method="idle",outcome="ok",service="redemption"} 0.0\n'
        'process_cpu_seconds_total 12.5\n')
    assert after[("process_cpu_seconds_total", ())] == 12.5
    means = bench.histogram_means(before, after, "vowrewards_entrypoint_duration_seconds",
                                  ("service", "method", "kind"))
    assert set(means) == {("redemption", "redeem", "rpc")}
    assert means[("redemption", "redeem", "rpc")]["count"] == 25
    assert means[("redemption", "redeem", "rpc")]["mean"] == pytest.approx(2.5 / 25)


@pytest.mark.parametrize("cmdline,comm,expected", [
    ("/opt/app/.venv/bin/python -m gateway", "python", "gateway"),
    ("/opt/app/.venv/bin/python -m services.redemption", "python", "redemption"),
    ("postgres: vow_redemption vowrewards 127.0.0.1(5000) idle", "postgres", "postgres"),
    ("/usr/lib/erlang/erts/bin/beam.smp -- -root /usr/lib/erlang", "beam.smp", "rabbitmq"),
    ("/usr/bin/python3 -m pytest", "python3", "other"),
    ("/opt/app/.venv/bin/python -m devtools.echo rpc --amqp amqp://x", "python", "echo rpc (nameko)"),
    ("/opt/app/.venv/bin/python -m devtools.echo http --amqp amqp://x", "python", "echo http (nameko)"),
    ("/opt/app/.venv/bin/python -m devtools.echo_asgi --amqp amqp://x", "python", "echo http (uvicorn)"),
    ("/opt/app/.venv/bin/python -m devtools.till_asgi --amqp amqp://x --port 8097", "python", "till http (uvicorn)"),
    ("/usr/bin/wrk -t2 -c16 -d10s --latency -s redeem.lua http://127.0.0.1:8000", "wrk", "wrk (load generator)"),
])
def test_classify_process(cmdline, comm, expected):
    assert bench.classify_process(cmdline, comm) == expected


def test_classify_process_knows_itself():
    assert bench.classify_process("python -m devtools.bench", "python", pid=7, own_pid=7) == \
        "bench (this process)"


def test_the_ceiling_suite_takes_the_median_round():
    from devtools import bench_ceiling
    assert bench_ceiling.median([3.0, 1.0, 2.0]) == 2.0
    assert bench_ceiling.median([]) is None


def test_tills_are_parsed_and_checked():
    assert bench.parse_args(["--tills", "1,16, 64"]).tills == [1, 16, 64]
    with pytest.raises(SystemExit):
        bench.parse_args(["--tills", "one"])
