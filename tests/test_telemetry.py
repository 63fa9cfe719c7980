"""LoggingListener and OpenTelemetryListener on real renewals against 127.0.0.1 (integration).

OpenTelemetry output is read from the SDK's in-memory exporters; log output from caplog.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from oauthflow import (
    ClientConfig,
    ConfigurationError,
    ManualClock,
    OAuthError,
    ReauthenticationRequiredError,
    RenewalEvent,
    Token,
    TokenManager,
)
from oauthflow.registry import TokenRegistry
from oauthflow.telemetry import LoggingListener, OpenTelemetryListener
from tests.support.fake_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeServer,
    Scripted,
)
from tests.support.renewal_run import ECHOED_REFRESH_TOKEN, run_every_renewal_path
from tests.test_secrets import assert_clean, secrets_of

CLIENT = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
EVENTS = "oauthflow.events"


@dataclass
class Otel:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def listener(self, **kwargs: Any) -> OpenTelemetryListener:
        return OpenTelemetryListener(self.tracer_provider, self.meter_provider, **kwargs)

    def spans(self, name: str = "oauthflow.token.renewal") -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]

    def points(self) -> dict[str, dict[frozenset[tuple[str, Any]], float]]:
        """Metric name -> {attributes: value} (a histogram's value is its count)."""
        data = self.reader.get_metrics_data()
        result: dict[str, dict[frozenset[tuple[str, Any]], float]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = result.setdefault(metric.name, {})
                    for point in metric.data.data_points:
                        value = point.count if isinstance(point, HistogramDataPoint) \
                            else getattr(point, "value", None)
                        assert isinstance(value, (int, float))
                        points[frozenset((point.attributes or {}).items())] = value
        return result


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield Otel(tracer_provider, meter_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def attrs(**values: Any) -> frozenset[tuple[str, Any]]:
    return frozenset((f"oauthflow.{name}" if name != "error_type" else "error.type", value)
                     for name, value in values.items())


async def gated_gets(fake: FakeServer, tokens: TokenManager, callers: int) -> None:
    """``callers`` concurrent gets that all wait for one held token request."""
    fake.gate = asyncio.Event()
    gets = asyncio.gather(*[tokens.get() for _ in range(callers)])
    await asyncio.wait_for(fake.token_request_arrived.wait(), 5)
    fake.gate.set()
    await asyncio.wait_for(gets, 5)
    fake.gate = None


# -- logging ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_logging_listener_writes_one_line_per_event(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=EVENTS)
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    listener = LoggingListener(clock=clock).bind({"oauthflow.manager": "billing"})
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, refresh_token="rt-0", clock=clock,
        listeners=[listener],
    ) as tokens:
        await gated_gets(fake, tokens, 3)
        clock.advance(600)
        assert tokens.current is not None
        tokens.invalidate(tokens.current)
        fake.script(Scripted(status=401, json_body={"error": "invalid_client"}))
        with pytest.raises(OAuthError):
            await tokens.get()
        fake.script(Scripted(status=400, json_body={"error": "invalid_grant"}))
        with pytest.raises(ReauthenticationRequiredError):
            await tokens.get()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == EVENTS]
    assert lines == [
        ("INFO", "token renewed: manager=billing reason=initial outcome=renewed "
                 "duration=0.000 waiters=3 expires_in=3600.000"),
        ("INFO", "access token refused by an API; the next get() renews it: manager=billing"),
        ("WARNING", "token renewal failed: manager=billing reason=invalidated outcome=failed "
                    "duration=0.000 waiters=1 error.type=OAuthError error=invalid_client "
                    "status=401"),
        ("WARNING", "token renewal failed: manager=billing reason=invalidated outcome=failed "
                    "duration=0.000 waiters=1 error.type=ReauthenticationRequiredError "
                    "error=invalid_grant status=400"),
        ("ERROR", "re-authentication required: the refresh token was refused: "
                  "manager=billing error.type=ReauthenticationRequiredError error=invalid_grant "
                  "status=400"),
    ]
    first = next(r for r in caplog.records if r.name == EVENTS)
    assert first.__dict__["oauthflow"] == {
        "event": "renewed", "oauthflow.manager": "billing", "oauthflow.reason": "initial",
        "oauthflow.outcome": "renewed", "oauthflow.duration": 0.0, "oauthflow.waiters": 3,
        "oauthflow.expires_in": 3600.0,
    }


@pytest.mark.asyncio
async def test_no_secret_in_any_record_or_telemetry_at_debug(
    fake: FakeServer, caplog: pytest.LogCaptureFixture, otel: Otel
) -> None:
    """The run of tests/test_secrets.py (renewal, 401 replay, invalid_grant, 502s), with
    both listeners attached, plus a registry whose key carries a secret-looking parameter."""
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    metrics = otel.listener(grant="refresh_token", clock=clock)
    tokens = TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
        listeners=[LoggingListener(clock=clock), metrics],
    )
    metrics.watch(tokens, name="user")
    await run_every_renewal_path(fake, tokens, clock)
    registry = TokenRegistry.for_client_credentials(
        client=CLIENT, token_endpoint=fake.token_endpoint, clock=clock,
        listeners_for=lambda key: [LoggingListener().bind(key.attributes()),
                                   metrics.bind(key.attributes())])
    async with registry:
        await registry.get(scope=["read"], extra_params={"api_key": "PARAM-SECRET"})

    texts = [record.getMessage() for record in caplog.records]
    texts += [repr(getattr(record, "oauthflow", None)) for record in caplog.records]
    texts += [span.to_json() for span in otel.exporter.get_finished_spans()]
    data = otel.reader.get_metrics_data()
    assert data is not None
    texts.append(data.to_json())
    assert any("token renewed" in text for text in texts)
    assert any("oauthflow.token.time_to_expiry" in text for text in texts)
    assert fake.token_calls == 7
    for text in texts:
        assert_clean(text, [*secrets_of(fake), "PARAM-SECRET", ECHOED_REFRESH_TOKEN])


@pytest.mark.asyncio
async def test_listeners_never_repeat_server_controlled_text(
    fake: FakeServer, caplog: pytest.LogCaptureFixture, otel: Otel
) -> None:
    """An ``error_description`` may echo what was sent (here the refresh token): the
    listeners describe an error by type and code only."""
    caplog.set_level(logging.DEBUG, logger=EVENTS)
    fake.script(Scripted(status=400, json_body={
        "error": "invalid_grant", "error_description": "refresh token rt-0 is revoked"}))
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, refresh_token="rt-0",
        listeners=[LoggingListener(), otel.listener()],
    ) as tokens:
        with pytest.raises(ReauthenticationRequiredError):
            await tokens.get()
    texts = [r.getMessage() + repr(getattr(r, "oauthflow", None))
             for r in caplog.records if r.name == EVENTS]
    texts += [span.to_json() for span in otel.exporter.get_finished_spans()]
    assert len(texts) == 3  # failed + re-authentication lines, one span
    for text in texts:
        assert "invalid_grant" in text or "Reauthentication" in text
        assert_clean(text, ["rt-0", "revoked"])


# -- OpenTelemetry ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_spans_and_metrics_of_a_coalesced_renewal_a_401_replay_and_a_failure(
    fake: FakeServer, otel: Otel
) -> None:
    clock = ManualClock()
    listener = otel.listener(grant="client_credentials", clock=clock)
    tracer = otel.tracer_provider.get_tracer("app")
    async with TokenManager.for_client_credentials(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, listeners=[listener],
    ) as tokens:
        listener.watch(tokens, name="billing")
        with tracer.start_as_current_span("request"):
            await gated_gets(fake, tokens, 10)
        clock.advance(600)
        assert tokens.current is not None
        tokens.invalidate(tokens.current)  # a 401 replay
        await tokens.get()
        fake.script(Scripted(status=401, json_body={"error": "invalid_client"}))
        tokens.invalidate(tokens.current)
        with pytest.raises(OAuthError):
            await tokens.get()
        clock.advance(100)
        points = otel.points()

    request, = otel.spans("request")
    spans = otel.spans()
    assert [dict(span.attributes or {}) for span in spans] == [
        {"oauthflow.grant": "client_credentials", "oauthflow.reason": "initial",
         "oauthflow.outcome": "renewed", "oauthflow.waiters": 10},
        {"oauthflow.grant": "client_credentials", "oauthflow.reason": "invalidated",
         "oauthflow.outcome": "renewed", "oauthflow.waiters": 1},
        {"oauthflow.grant": "client_credentials", "oauthflow.reason": "invalidated",
         "oauthflow.outcome": "failed", "oauthflow.waiters": 1, "error.type": "OAuthError",
         "oauthflow.error": "invalid_client", "oauthflow.status": 401},
    ]
    assert spans[0].parent is not None
    assert spans[0].parent.span_id == request.context.span_id
    assert [span.status.status_code for span in spans] == [
        StatusCode.UNSET, StatusCode.UNSET, StatusCode.ERROR]
    assert spans[2].status.description == "OAuthError"

    grant = "client_credentials"
    assert points["oauthflow.token.requests"] == {
        attrs(grant=grant, reason="initial", outcome="renewed"): 1,
        attrs(grant=grant, reason="invalidated", outcome="renewed"): 1,
        attrs(grant=grant, reason="invalidated", outcome="failed", error_type="OAuthError",
              error="invalid_client"): 1,
    }
    assert points["oauthflow.token.renewals_coalesced"] == {
        attrs(grant=grant, reason="initial"): 9}
    assert points["oauthflow.token.invalidations"] == {attrs(grant=grant): 2}
    assert sum(points["oauthflow.token.renewal.duration"].values()) == 3
    assert points["oauthflow.token.time_to_expiry"] == {
        attrs(grant=grant, manager="billing"): 3500.0}
    assert "oauthflow.token.adoptions" not in points
    assert fake.token_calls == 3


def test_span_times_come_from_the_event_and_rare_events_are_counted(otel: Otel) -> None:
    listener = otel.listener(attributes={"service": "jobs"})
    listener.on_renewal(RenewalEvent(reason="expired", outcome="adopted", duration=2.5,
                                     waiters=0))
    listener.on_store_conflict()
    listener.on_reauthentication_required(ReauthenticationRequiredError("invalid_grant"))
    span, = otel.spans()
    assert span.end_time is not None
    assert span.start_time is not None
    assert span.end_time - span.start_time == 2_500_000_000
    points = otel.points()
    service = ("service", "jobs")
    assert points["oauthflow.token.adoptions"] == {
        frozenset({service, *attrs(reason="expired", outcome="adopted")}): 1}
    assert "oauthflow.token.requests" not in points
    assert "oauthflow.token.renewals_coalesced" not in points  # no waiter beyond the first
    assert points["oauthflow.token.store_conflicts"] == {frozenset({service}): 1}
    assert points["oauthflow.token.reauthentication_required"] == {frozenset({service}): 1}


@pytest.mark.asyncio
async def test_a_registry_reports_each_key_and_evicted_keys_leave_the_gauge(
    fake: FakeServer, otel: Otel
) -> None:
    clock = ManualClock()
    listener = otel.listener(grant="client_credentials", clock=clock)
    registry = TokenRegistry.for_client_credentials(
        client=CLIENT, token_endpoint=fake.token_endpoint, clock=clock, max_entries=1,
        listeners_for=lambda key: [listener.bind(key.attributes())])
    listener.watch_registry(registry)
    async with registry:
        await registry.get(extra_params={"audience": "api-1"})
        await registry.get(extra_params={"audience": "api-2"})  # evicts api-1
        clock.advance(60)
        points = otel.points()
    grant = "client_credentials"
    assert points["oauthflow.token.requests"] == {
        attrs(grant=grant, audience="api-1", reason="initial", outcome="renewed"): 1,
        attrs(grant=grant, audience="api-2", reason="initial", outcome="renewed"): 1,
    }
    assert points["oauthflow.token.time_to_expiry"] == {
        attrs(grant=grant, audience="api-2"): 3540.0}


def test_without_opentelemetry_the_module_imports_and_the_listener_explains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.metrics"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ConfigurationError, match=r"pip install 'oauthflow\[otel\]'"):
        OpenTelemetryListener()
    code = ("import sys; sys.modules['opentelemetry'] = None; "
            "import oauthflow.telemetry as t; t.LoggingListener(); print('imported')")
    done = subprocess.run(  # noqa: S603 - our own interpreter and a constant program
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "imported"), done.stderr


def test_the_gauge_holds_managers_weakly(otel: Otel) -> None:
    clock = ManualClock()

    async def never(_current: Token | None) -> Token:
        raise AssertionError("not renewed in this test")

    listener = otel.listener(clock=clock)
    kept = TokenManager(never, clock=clock,
                        token=Token(access_token="a", expires_at=clock.time() + 90))
    dropped = TokenManager(never, clock=clock,
                           token=Token(access_token="b", expires_at=clock.time() + 30))
    listener.watch(kept, name="kept")
    listener.watch(dropped, name="dropped")
    del dropped
    gc.collect()
    assert otel.points()["oauthflow.token.time_to_expiry"] == {attrs(manager="kept"): 90.0}
