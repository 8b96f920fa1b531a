"""Property tests: no input crashes a parser, and every record becomes either a complete,
valid event or a refusal (never a half-filled event, never silently dropped)."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
from datetime import UTC
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aforo.ingest import apigee, aws, azure, canonical, kong, mcp, mulesoft, streaming
from aforo.ingest.canonical import Unusable
from aforo.ingest.fields import MAX_STRING_BYTES, RecordInvalid
from aforo.services.usage.events import OUTCOMES, SOURCES, Event, Parsed

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["-", "", "2026-11-27T10:00:00Z", "1795764757123", "GET", "/a%2Fb?x=1"]),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = [
    *sorted(canonical.KNOWN),
    "request",
    "response",
    "started_at",
    "latencies",
    "consumer",
    "route",
    "client_ip",
    "requestId",
    "requestTimeEpoch",
    "httpMethod",
    "path",
    "status",
    "time",
    "properties",
    "resourceId",
    "EventTime",
    "client_received_start_timestamp",
    "request_uri",
    "Timestamp",
    "Status Code",
    "session_id",
    "transport",
    "agent",
    "cancelled",
    "records",
    "events",
]
records = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=10)


def assert_complete(e: Event) -> None:
    assert isinstance(e.event_id, str) and 0 < len(e.event_id) <= 200
    assert isinstance(e.metric, str) and e.metric
    assert e.source in SOURCES
    assert isinstance(e.quantity, Decimal) and e.quantity.is_finite() and e.quantity >= 0
    assert e.occurred_at.tzinfo is not None and e.occurred_at.utcoffset() == UTC.utcoffset(None)
    assert e.occurred_at.microsecond % 1000 == 0
    if e.status is not None:
        assert 100 <= e.status <= 599
    if e.method is not None:
        assert e.method == e.method.upper()
    if e.outcome is not None:
        assert e.outcome in OUTCOMES
    for v in (
        e.event_id,
        e.consumer,
        e.path,
        e.route,
        e.request_id,
        e.client_ip,
        e.tool,
        e.agent,
        e.session,
        e.source_account,
    ):
        if v is not None:
            assert "\x00" not in v
            assert len(v.encode("utf-8")) <= MAX_STRING_BYTES
    json.dumps(e.to_wire())  # storable and shippable as is
    e.content_hash()


def check(parsed: Parsed, n: int | None = None) -> None:
    for e in parsed.events:
        assert_complete(e)
    for r in parsed.rejected:
        assert r.code and r.message
    if n is not None:
        assert len(set(parsed.indexes)) + len(parsed.rejected) + parsed.free == n


@PROFILE
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_any_parser(body: bytes) -> None:
    for parse in (
        lambda b: canonical.parse_batch(b, "application/json"),
        lambda b: canonical.parse_batch(b, "application/x-ndjson"),
        kong.parse,
        azure.parse,
        apigee.parse,
        mulesoft.parse,
        mcp.parse,
        lambda b: aws.parse(b)[1],
    ):
        with contextlib.suppress(Unusable):
            check(parse(body))


@PROFILE
@given(st.lists(st.one_of(records, json_values), max_size=6))
def test_json_records_are_complete_or_refused(items: list[Any]) -> None:
    body = json.dumps({"events": items}).encode()
    check(canonical.parse_batch(body, "application/json"), len(items))
    check(kong.parse(json.dumps(items).encode()), len(items))
    check(azure.parse(json.dumps({"records": items}).encode()), len(items))
    check(apigee.parse(json.dumps(items).encode()), len(items))
    check(mulesoft.parse(json.dumps(items).encode()), len(items))
    check(mcp.parse(json.dumps({"records": items}).encode()), len(items))
    fire = {"records": [{"data": base64.b64encode(json.dumps(x).encode()).decode()} for x in items]}
    _, parsed = aws.parse(json.dumps(fire).encode())
    check(parsed)


@PROFILE
@given(
    st.lists(st.dictionaries(st.sampled_from(sorted(canonical.KNOWN)), json_scalars), max_size=5),
    st.binary(max_size=40),
)
def test_aws_gzip_and_garbage_records(items: list[dict[str, Any]], junk: bytes) -> None:
    cwl = {
        "messageType": "DATA_MESSAGE",
        "owner": "1",
        "logEvents": [
            {"id": str(i), "timestamp": 1795764757123, "message": json.dumps(x)}
            for i, x in enumerate(items)
        ],
    }
    datas = [gzip.compress(json.dumps(cwl).encode()), junk, gzip.compress(junk)]
    fire = {"records": [{"data": base64.b64encode(d).decode()} for d in datas]}
    _, parsed = aws.parse(json.dumps(fire).encode())
    check(parsed)
    refused = {r.index for r in parsed.rejected}
    assert not refused & set(parsed.indexes)  # a Firehose record is taken or refused whole


def _stream(parser: Any, data: bytes, cuts: list[int]) -> tuple[list[Any], bool]:
    rows: list[Any] = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    prev = 0
    try:
        for p in [*points, len(data)]:
            rows += parser.feed(data[prev:p])
            prev = p
        rows += parser.close()
    except streaming.Fatal:
        return rows, False
    return rows, True


def _check_rows(rows: list[Any]) -> None:
    numbers = [r for r, _, _ in rows]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for _, value, _ in rows:  # a row is a record or that row's own error, nothing else
        assert isinstance(value, RecordInvalid) or not isinstance(value, BaseException)


@PROFILE
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_streaming_parsers_survive_any_bytes_and_any_chunking(data: bytes, cuts: list[int]) -> None:
    for make in (streaming.CsvStream, streaming.NdjsonStream, streaming.JsonArrayStream):
        rows, _ = _stream(make(), data, cuts)
        _check_rows(rows)


cells = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@PROFILE
@given(
    st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=8),
    st.lists(st.integers(min_value=0, max_value=600), max_size=6),
    st.booleans(),
)
def test_csv_round_trips_any_quoted_content_in_any_chunking(
    rows: list[tuple[str, str, str]], cuts: list[int], crlf: bool
) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_ALL)
    w.writerow(["event_id", "metric", "occurred_at"])
    for r in rows:
        w.writerow(r)
    got, ok = _stream(streaming.CsvStream(), buf.getvalue().encode(), cuts)
    assert ok
    assert [tuple(v.values()) for _, v, _ in got] == rows
    assert [n for n, _, _ in got] == list(range(2, len(rows) + 2))


@PROFILE
@given(
    st.lists(json_values, max_size=6), st.lists(st.integers(min_value=0, max_value=300), max_size=6)
)
def test_json_array_stream_matches_json_loads(items: list[Any], cuts: list[int]) -> None:
    data = json.dumps(items).encode()
    got, ok = _stream(streaming.JsonArrayStream(), data, cuts)
    assert ok
    assert [v for _, v, _ in got] == items
    # Cut anywhere before the end: never a crash, never a record past the cut.
    if len(data) > 2:
        partial, ok = _stream(streaming.JsonArrayStream(), data[: len(data) // 2], cuts)
        assert not ok
        assert len(partial) <= len(items)


CONTENT_TYPES = ["application/json", "application/x-ndjson", "text/csv", "", "application/json; x"]


@PROFILE
@given(st.binary(max_size=300), st.sampled_from(CONTENT_TYPES))
def test_arbitrary_bytes_under_every_content_type(body: bytes, content_type: str) -> None:
    """The parsers that branch on the content type, through each branch."""
    for parse in (
        lambda b: canonical.parse_batch(b, content_type),
        lambda b: apigee.parse(b, content_type),
        lambda b: mulesoft.parse(b, content_type),
    ):
        with contextlib.suppress(Unusable):
            check(parse(body))


def _event(**over: Any) -> bytes:
    return json.dumps([{"event_id": "e1", "metric": "calls", **over}]).encode()


HOSTILE_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,  # nesting past the interpreter's stack
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    _event(properties="@").replace(b'"@"', b'{"a":' * 5000 + b"1" + b"}" * 5000),
    _event(quantity=1).replace(b": 1}", b": " + b"9" * 100_000 + b"}"),  # past int digit limit
    _event(quantity=1).replace(b": 1}", b": 1e999}"),  # infinity
    _event(quantity=1).replace(b": 1}", b": NaN}"),
    _event(occurred_at=1).replace(b": 1}", b": 1e400}"),
]


def test_hostile_json_shapes_are_complete_or_refused() -> None:
    for body in HOSTILE_BODIES:
        wrapped = base64.b64encode(gzip.compress(body)).decode()
        for parse in (
            lambda b: canonical.parse_batch(b, "application/json"),
            lambda b: canonical.parse_batch(b, "application/x-ndjson"),
            kong.parse,
            azure.parse,
            apigee.parse,
            lambda b: apigee.parse(b, "application/x-ndjson"),
            mulesoft.parse,
            lambda b: mulesoft.parse(b, "application/x-ndjson"),
            mcp.parse,
            lambda b: aws.parse(b)[1],
            lambda _, w=wrapped: aws.parse(json.dumps({"records": [{"data": w}]}).encode())[1],
        ):
            with contextlib.suppress(Unusable):
                check(parse(body))
        for make in (streaming.CsvStream, streaming.NdjsonStream, streaming.JsonArrayStream):
            _check_rows(_stream(make(), body, [7, 4096])[0])


# -- the fast paths store exactly what the general path would --------------------------------
field_values = {
    "event_id": st.one_of(st.text(min_size=1, max_size=12), st.integers(0, 10**6), st.just("-")),
    "metric": st.one_of(st.text(min_size=1, max_size=8), st.just(" ")),
    "occurred_at": st.one_of(
        st.sampled_from(
            [
                "2026-11-27T10:15:00Z",
                "2026-11-27T10:15:00.123456789+02:00",
                "2026-11-27 10:15:00Z",
                "2026-11-27t10:15:00.5z",
                "1999-01-01T00:00:00Z",
                "2026-11-27T10:15:00",
            ]
        ),
        st.integers(),
    ),
    "quantity": st.one_of(
        st.none(), st.integers(-5, 10**40), st.floats(allow_nan=False), st.sampled_from(["2", ""])
    ),
    "consumer": st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["-", "  ", "café"])),
    "method": st.one_of(st.none(), st.sampled_from(["get", "POST", "x y", "-", ""])),
    "path": st.one_of(st.none(), st.sampled_from(["/a", "/a%20b?x=1", "https://h/p#f", "/%ff"])),
    "status": st.one_of(st.none(), st.integers(0, 700), st.sampled_from(["200", "2xx"])),
    "latency_ms": st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-1, 10**3)),
    "request_bytes": st.one_of(st.none(), st.integers(-1, 2**64)),
    "outcome": st.one_of(st.none(), st.sampled_from(["success", "nope"])),
    "properties": st.one_of(st.none(), st.dictionaries(st.text(max_size=3), json_scalars)),
    "key_id": st.one_of(st.none(), st.uuids().map(str), st.just("not-a-uuid")),
}
canonical_records = st.fixed_dictionaries(
    {k: field_values[k] for k in ("event_id", "metric", "occurred_at")},
    optional={
        k: v for k, v in field_values.items() if k not in ("event_id", "metric", "occurred_at")
    },
)


def _general(items: list[Any]) -> Parsed:
    from datetime import datetime

    now = datetime.now().astimezone()
    return canonical.collect(
        ((i, x, None) for i, x in enumerate(items)),
        lambda x: canonical.event_from(x, "rest", now),
    )


@PROFILE
@given(st.lists(canonical_records, min_size=1, max_size=5))
def test_the_typed_fast_path_stores_what_the_general_path_would(items: list[Any]) -> None:
    fast = canonical.parse_batch(json.dumps({"events": items}).encode(), "application/json")
    slow = _general(items)
    assert [e.to_wire() for e in fast.events] == [e.to_wire() for e in slow.events]
    assert [e.content_hash() for e in fast.events] == [e.content_hash() for e in slow.events]
    assert [(r.index, r.errors) for r in fast.rejected] == [
        (r.index, r.errors) for r in slow.rejected
    ]


csv_cells = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["e1", "", "-", "x" * 201]),
        "metric": st.sampled_from(["m", "", " "]),
        "occurred_at": st.sampled_from(["2026-11-27T10:15:00Z", "2026-11-27 10:15:00", "", "x"]),
        "quantity": st.sampled_from(["", "1", "2.50", "-1", "1e3"]),
        "consumer": st.sampled_from(["", "c", "-"]),
        "status": st.sampled_from(["", "200", "99", "abc"]),
        "latency_ms": st.sampled_from(["", "1.5", "-2"]),
        "path": st.sampled_from(["", "/a?b", "/%41"]),
    }
)


@PROFILE
@given(csv_cells)
def test_the_csv_fast_builder_stores_what_the_general_path_would(row: dict[str, str]) -> None:
    from datetime import UTC, datetime

    from aforo.ingest.fields import flex_time

    now = datetime.now(UTC)
    build = canonical.csv_builder(list(row), "csv", now, flex_time)
    try:
        fast: Any = build(row).to_wire()
    except RecordInvalid as e:
        fast = e.errors
    try:
        slow: Any = canonical.event_from(canonical.csv_record(row), "csv", now, flex_time).to_wire()
    except RecordInvalid as e:
        slow = e.errors
    assert fast == slow


def test_a_clean_batch_takes_the_fast_path_and_a_doubtful_one_does_not() -> None:
    from datetime import datetime

    clean = {"event_id": "a", "metric": "m", "occurred_at": "2026-11-27T10:15:00Z", "status": 200}
    now = datetime.now().astimezone()
    decoded = canonical._DECODE_ARRAY(json.dumps([clean]).encode())
    assert canonical._fast(decoded, "rest", now) is not None
    for doubt in ({"consumer": "-"}, {"consumer": "  "}, {"metric": "-"}):
        records = canonical._DECODE_ARRAY(json.dumps([{**clean, **doubt}]).encode())
        assert canonical._fast(records, "rest", now) is None
    for refused in ({"status": "200"}, {"colour": 1}, {"event_id": 7}):
        with pytest.raises(msgspec.DecodeError):  # the decoder hands these to the general path
            canonical._DECODE_ARRAY(json.dumps([{**clean, **refused}]).encode())
