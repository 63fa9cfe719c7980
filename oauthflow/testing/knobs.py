"""Adversity knobs, counters and the request log of the local authorization server.

Tests set these between requests; the front end consults them on every request:
``settings`` (lifetimes, rotation, clock offset), per-endpoint latency, queued failures
(``fail_next``), per-endpoint request counters and per-grant token counters, and a record of
every request so a test can assert exactly what the server saw.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ENDPOINTS",
    "Counters",
    "Failure",
    "Knobs",
    "RecordedRequest",
    "Settings",
    "wire_seconds",
]

#: Endpoint names accepted by ``set_latency``, ``fail_next``, ``counters`` and ``requests_seen``.
ENDPOINTS = frozenset(
    {
        "token",
        "authorize",
        "device_authorization",
        "revoke",
        "introspect",
        "userinfo",
        "jwks",
        "par",
        "discovery",
        "end_session",
        "api",
    }
)


def wire_seconds(seconds: float) -> int | float:
    """A duration for a JSON field such as ``expires_in`` or ``interval``.

    An integer when the setting is whole (what RFC 6749 §5.1 shows); sub-second settings are
    sent as a number with a fraction, which only tests ask for.
    """
    if float(seconds).is_integer():
        return int(seconds)
    return round(seconds, 3)


@dataclass
class Settings:
    """Behaviour a test may change at any time (read on every request).

    Durations are seconds (floats allowed). ``clock_offset`` is added to the server's clock,
    so a positive value makes the server live in the future (tokens look older to it).
    """

    access_token_lifetime: float = 3600.0
    refresh_token_rotation: bool = True
    refresh_token_reuse_detection: bool = True
    clock_offset: float = 0.0
    authorization_code_lifetime: float = 60.0
    device_code_lifetime: float = 600.0
    device_poll_interval: float = 5.0
    #: RFC 8628 §3.5: on ``slow_down`` "the interval MUST be increased by 5 seconds".
    device_slow_down_increment: float = 5.0
    par_lifetime: float = 60.0
    id_token_lifetime: float = 3600.0


@dataclass(frozen=True)
class Failure:
    """One queued failure: what the next request to an endpoint gets instead of an answer."""

    status: int = 500
    error: str | None = None
    error_description: str | None = None
    retry_after: float | None = None
    body: bytes | None = None
    content_type: str | None = None
    oversized: int | None = None
    drop_connection: bool = False

    def headers(self) -> dict[str, str]:
        """``Retry-After`` (RFC 9110 §10.2.3: delay-seconds, an integer) when asked for."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(math.ceil(self.retry_after))}


@dataclass
class Counters:
    """Plain integer counters; missing keys read as 0.

    ``requests[endpoint]`` counts every request that reached an endpoint (failed ones too);
    ``grants[grant_type]`` counts tokens actually issued, by grant type.
    """

    requests: Counter[str] = field(default_factory=Counter)
    grants: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.requests.clear()
        self.grants.clear()


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """What the server saw: for assertions in tests. ``repr`` shows no header or form values."""

    endpoint: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    form: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return (
            f"RecordedRequest({self.method} {self.path}, endpoint={self.endpoint!r}, "
            f"form_keys={sorted(self.form)})"
        )


class Knobs:
    """Latency and queued failures per endpoint name."""

    def __init__(self) -> None:
        self._latency: dict[str, float] = {}
        self._failures: dict[str, deque[Failure]] = {}

    def __repr__(self) -> str:
        pending = {k: len(v) for k, v in self._failures.items() if v}
        return f"Knobs(latency={self._latency!r}, pending_failures={pending!r})"

    def set_latency(self, endpoint: str, seconds: float) -> None:
        _check_endpoint(endpoint)
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency[endpoint] = seconds

    def latency(self, endpoint: str) -> float:
        return self._latency.get(endpoint, 0.0)

    def fail_next(self, endpoint: str, count: int, failure: Failure) -> None:
        _check_endpoint(endpoint)
        if count < 1:
            raise ValueError("count must be >= 1")
        self._failures.setdefault(endpoint, deque()).extend([failure] * count)

    def take_failure(self, endpoint: str) -> Failure | None:
        """The next queued failure for ``endpoint`` (consumed), or None."""
        queue = self._failures.get(endpoint)
        return queue.popleft() if queue else None

    def clear(self) -> None:
        self._latency.clear()
        self._failures.clear()


def _check_endpoint(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
