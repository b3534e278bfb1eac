"""The event codec (`shared.messages.decode_json` / `encode_event`) is pydantic's JSON, for speed,
but must read and write exactly what the standard `json` module does: a board's message that
parsed before parses to the same values now, and one that failed fails the same way."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.messages import decode_json, encode_event

CODEC = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63, max_value=2**200) | st.floats()
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=40)


def same(a: Any, b: Any) -> bool:
    """Equal, type for type (1 is not 1.0 here), NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def standard(data: bytes) -> tuple[str, Any]:
    try:
        return "value", json.loads(data)
    except RecursionError:
        return "error", RecursionError
    except ValueError:
        return "error", ValueError


def ours(data: bytes) -> tuple[str, Any]:
    try:
        return "value", decode_json(data)
    except RecursionError:
        return "error", RecursionError
    except ValueError:
        return "error", ValueError


def read_alike(data: bytes) -> None:
    (kind, a), (kind_b, b) = standard(data), ours(data)
    assert kind == kind_b and (a is b if kind == "error" else same(a, b)), data[:200]


@CODEC
@given(value=values, ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_any_json_text_reads_as_the_json_module_reads_it(value: Any, ascii_only: bool, indent: int | None) -> None:
    read_alike(json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode())


@CODEC
@given(data=st.binary(max_size=300))
def test_any_bytes_read_or_fail_as_with_the_json_module(data: bytes) -> None:
    read_alike(data)


@CODEC
@given(value=values, cut=st.integers(min_value=0, max_value=400), junk=st.binary(max_size=3))
def test_broken_json_fails_or_reads_as_with_the_json_module(value: Any, cut: int, junk: bytes) -> None:
    text = json.dumps(value).encode()
    read_alike(text[:cut] + junk + text[cut:])


@pytest.mark.parametrize("data", [
    b'"\\ud800"',  # an escaped lone surrogate: json reads it, pydantic's parser does not
    b"\xef\xbb\xbf{}",  # a byte-order mark
    "{\"a\": 1}".encode("utf-16"),  # UTF-16, which json detects
    b"[" * 300 + b"]" * 300,  # deeper than pydantic's parser goes, not than json's
    b"[" * 100_000 + b"]" * 100_000,  # deeper than json's: RecursionError, as before
    b"123456789012345678901234567890",  # past 64 bits: the exact int
    b"NaN", b"-Infinity", b"1e400",
])
def test_what_pydantics_parser_refuses_or_may_bend_is_read_as_json_reads_it(data: bytes) -> None:
    read_alike(data)


@CODEC
@given(value=values)
def test_events_are_written_as_the_json_module_writes_them(value: Any) -> None:
    event = {"data": value}
    written = encode_event(event)
    expected = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    assert same(json.loads(written), json.loads(expected))
    assert len(written) == len(expected) or b"e-0" in expected  # the same bytes, but for 1e-07 written 1e-7


def test_a_lone_surrogate_fails_to_encode_as_it_did() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_event({"data": "\ud800"})
