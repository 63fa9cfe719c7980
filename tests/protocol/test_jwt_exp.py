"""Unit tests of unverified_jwt_exp: reads ``exp`` to schedule renewal, never raises."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthflow.protocol.jwt_exp import unverified_jwt_exp


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = _b64(b'{"alg":"RS256"}')


def _jwt(payload: Any, *, raw: bytes | None = None) -> str:
    body = raw if raw is not None else json.dumps(payload).encode()
    return f"{HEADER}.{_b64(body)}.c2ln"


CASES: list[tuple[str, float | None]] = [
    (_jwt({"exp": 1_700_000_900}), 1_700_000_900.0),
    (_jwt({"exp": 1_700_000_900.5, "sub": "x"}), 1_700_000_900.5),
    (_jwt({"exp": 1_700_000_900}).replace(".c2ln", "."), 1_700_000_900.0),
    (_jwt({"sub": "no exp"}), None),
    (_jwt({"exp": "1700000900"}), None),
    (_jwt({"exp": True}), None),
    (_jwt({"exp": -5}), None),
    (_jwt({"exp": 10**400}), None),
    (_jwt(None, raw=b'{"exp": NaN}'), None),
    (_jwt(None, raw=b'{"exp": Infinity}'), None),
    (_jwt([1, 2]), None),
    (_jwt(None, raw=b"\xff\xfe"), None),
    (_jwt(None, raw=b"[" * 50_000), None),
    ("opaque-access-token", None),
    ("a.b.c", None),
    ("a..c", None),
    ("a.b.c.d.e", None),
    ("h.p\u00e9.s", None),
    ("", None),
]


@pytest.mark.parametrize(
    ("token", "expected"),
    CASES,
    ids=["int-exp", "float-exp", "unsigned-shape", "no-exp", "string-exp", "bool-exp",
         "negative-exp", "huge-int-exp", "nan-exp", "infinite-exp", "payload-not-object",
         "payload-not-utf8", "payload-too-deep", "opaque", "bad-base64", "empty-payload",
         "jwe-five-parts", "non-ascii", "empty"],
)
def test_unverified_jwt_exp(token: str, expected: float | None) -> None:
    assert unverified_jwt_exp(token) == expected


@given(st.text())
def test_never_raises_on_text(token: str) -> None:
    result = unverified_jwt_exp(token)
    assert result is None or result > 0


@given(st.binary(max_size=200), st.text(max_size=20), st.text(max_size=20))
def test_never_raises_on_any_payload(payload: bytes, header: str, signature: str) -> None:
    result = unverified_jwt_exp(f"{header}.{_b64(payload)}.{signature}")
    assert result is None or result > 0
