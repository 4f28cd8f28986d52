"""Splitting a manifest into records: exactly json.load's values, exact offsets,
any chunking, every malformed shape named, nesting bounded."""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
from typing import Any

import pytest

from dandi_compute_plugin.errors import ManifestFormatError
import dandi_compute_plugin.manifest.split as split_module
from dandi_compute_plugin.manifest.split import MAX_NESTING, RecordSplitter, nesting

from ..records import asset_record

TRICKY = [
    {"path": "a", "x": 0.1, "y": 1e-7, "z": -0.0, "big": 10**30, "s": "12345"},
    {"path": "ünï/cödé ✓", "note": 'tab\there, quote " and \\ and \u2028'},
    {"path": "b", "emoji": "😀", "nested": [[{"k": [1, 2]}]]},
    {"path": "c", "dup": 1, "list": [], "obj": {}, "t": True, "n": None},
]


def split(data: bytes, size: int = 1 << 20) -> list[tuple[Any, int]]:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return list(RecordSplitter(chunks, "m.jsonld"))


def error_of(data: bytes, size: int = 1 << 20) -> ManifestFormatError:
    with pytest.raises(ManifestFormatError) as info:
        split(data, size)
    return info.value


@pytest.mark.parametrize("indent", [None, 2])
def test_records_are_what_json_load_gives_whatever_the_chunks(
    indent: int | None,
) -> None:
    body = json.dumps(TRICKY, indent=indent, ensure_ascii=False).encode()
    body = body.replace(b'"dup": 1', b'"dup": 0, "dup": 1')  # the last wins
    expected = json.loads(body)
    for size in (1, 2, 3, 7, 64, len(body)):
        got = split(body, size)
        assert [value for value, _ in got] == expected
        assert json.dumps([v for v, _ in got]) == json.dumps(expected)
        for value, offset in got:  # the offsets are byte offsets
            tail = body[offset:].decode("utf-8")
            assert json.JSONDecoder().raw_decode(tail)[0] == value
    assert math.copysign(1, got[0][0]["z"]) == -1 and type(got[0][0]["x"]) is float


@pytest.mark.parametrize(
    "dump",
    [
        {"separators": (",", ":")},  # compact, as the archive writes it
        {},  # ", " between records
        {"indent": 1},  # a new line and a space
    ],
)
def test_delimiters_anywhere_in_the_window(
    monkeypatch: pytest.MonkeyPatch, dump: dict[str, Any]
) -> None:
    # a small window, so that record, comma and white space fall on its end
    # in every combination
    monkeypatch.setattr(split_module, "WINDOW", 512)
    records = [{"path": f"p/{i}", "pad": "x" * (i % 301)} for i in range(400)]
    body = json.dumps(records, **dump).encode()
    for size in (1, 13, 100, len(body)):
        got = split(body, size)
        assert [value for value, _ in got] == records
        text = body.decode("ascii")
        decoder = json.JSONDecoder()
        assert [decoder.raw_decode(text, o)[0] for _, o in got] == records


def test_a_record_larger_than_the_window_is_read_whole() -> None:
    records = [asset_record("small"), {"path": "huge", "blob": "x" * 3_000_000}]
    records.append(asset_record("after"))
    body = json.dumps(records).encode()
    got = split(body, 4096)
    assert [v for v, _ in got] == records
    assert got[2][1] == body.index(b'{"@context"', 10)


def test_the_window_stays_small_however_long_the_manifest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = 4096  # small, so that the window is refilled thousands of times
    monkeypatch.setattr(split_module, "WINDOW", window)
    records = [asset_record(f"f/{i:06}") for i in range(6000)]  # about 8 MB
    body = json.dumps(records).encode()
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    splitter = RecordSplitter(chunks, "m.jsonld")
    largest = 0
    for n, (value, _) in enumerate(splitter):
        assert value["path"] == f"f/{n:06}"
        largest = max(largest, splitter.window)
    longest = max(len(json.dumps(r)) for r in records)
    assert n == 5999 and largest <= 2 * window + longest + 1000


def test_empty_arrays_and_white_space() -> None:
    assert split(b"[]") == [] and split(b" \n[ \r\n\t] \n") == []
    assert split(b'\xef\xbb\xbf[ {"path": 1} ]') == [({"path": 1}, 5)]


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", "no JSON array: empty"),
        (b"  \n ", "only white space"),
        (b'{"path": "a"}', "a JSON object, not a JSON array"),
        (b'"x"', "a JSON string, not a JSON array"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed data"),
        (b'[{"path": "a"}', "truncated JSON"),
        (b'[{"path": "a"},', "truncated JSON"),
        (b'[{"path": "a"', "truncated JSON"),
        (b'[{"path": "a', "truncated JSON"),
        (b'[{"path": tr', "truncated JSON"),
        (b'[{"path": "a"},]', "invalid JSON: Expecting value"),
        (b'[{"path": "a"} {"path": "b"}]', "',' or ']' expected"),
        (b'[{"path": "a"}] x', "data after the closing ']'"),
        (b'[{"path": "a"}][]', "data after the closing ']'"),
        (b'[{"path": "\x01"}]', "Invalid control character"),
        (b'[{"path": "\xff"}]', "invalid UTF-8 (byte 11)"),
        (b'[{"path": "a", "n": 1' + b"1" * 5000 + b"}]", "invalid JSON"),
    ],
)
def test_malformed_data_is_named(data: bytes, text: str) -> None:
    for size in (1, 5, 1 << 20):
        assert text in str(error_of(data, size))


def test_an_error_names_the_record_and_the_last_good_path() -> None:
    good = json.dumps([{"path": "a"}, {"path": "b"}]).encode()
    body = good[:-1] + b", {oops}]"
    splitter = RecordSplitter([body], "m.jsonld")
    with pytest.raises(ManifestFormatError) as info:
        for value, _ in splitter:
            splitter.last_path = value["path"]
    assert info.value.record == 3
    assert "after record 2, path 'b'" in str(info.value)
    assert f"(byte {body.index(b'oops')})" in str(info.value)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value}
    return {"path": "deep", "v": value}


# the documented limit, written out: a changed constant must fail these
@pytest.mark.parametrize("depth", [1, 20, 64])
def test_nesting_up_to_the_limit_is_accepted(depth: int) -> None:
    record = nested(depth)
    assert nesting(record) == max(depth, 1)
    assert split(json.dumps([asset_record("a"), record]).encode())[1][0] == record


@pytest.mark.parametrize("depth", [65, 500, 5000])
def test_deeper_nesting_is_an_error_naming_the_record(depth: int) -> None:
    body = json.dumps([{"path": "ok"}]).encode()[:-1]
    body += b"," + b"[" * depth + b"]" * depth + b"]"
    error = error_of(body)
    assert error.record == 2
    assert "nested deeper than 64 levels" in str(error)


def test_a_nesting_bomb_fails_fast_in_little_memory(tmp_path: Any) -> None:
    bomb = tmp_path / "bomb.jsonld"
    bomb.write_bytes(b'[{"path": "a", "v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]")
    code = (
        "import resource, sys, time\n"
        "from dandi_compute_plugin.manifest.load import ManifestRequest, iter_assets\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    list(iter_assets(ManifestRequest(source={str(bomb)!r})))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "print(time.perf_counter() - t)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    # a limit the old event parser (21 GB) would have hit at once
    limit = resource.getrlimit(resource.RLIMIT_AS)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, limit[1])),
    )
    assert proc.returncode == 0, proc.stderr
    message, _seconds, rss_kb = proc.stdout.strip().splitlines()
    assert message.startswith("ManifestFormatError")
    assert "record 1" in message and f"deeper than {MAX_NESTING}" in message
    assert int(rss_kb) < 512 * 1024
