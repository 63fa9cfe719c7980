"""Ready-made :class:`~oauthflow.TokenEventListener` s: standard logging and OpenTelemetry.

Give them to a manager (or to every manager of a registry)::

    otel = OpenTelemetryListener(grant="client_credentials")
    tokens = TokenManager.for_client_credentials(..., listeners=[LoggingListener(), otel])
    otel.watch(tokens, name="billing")      # the time-to-expiry gauge

- :class:`LoggingListener`: one line per event on the ``oauthflow.events`` logger, with the
  fields also attached to the record as ``record.oauthflow`` (a dict) for JSON logging.
- :class:`OpenTelemetryListener`: a span per renewal and the ``oauthflow.token.*``
  metrics. Needs the ``otel`` extra (``pip install 'oauthflow[otel]'``); this module
  imports without it.

Security: neither ever records a token value. Errors are described by their type and
their ``.error`` / ``.code`` / ``.status`` only, not by their message (an
``error_description`` is server-controlled text).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from oauthflow.clock import Clock, SystemClock
from oauthflow.errors import ConfigurationError, ReauthenticationRequiredError
from oauthflow.renewal import RenewalEvent, TokenEventListener
from oauthflow.token import Token

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import TracerProvider

__all__ = ["LoggingListener", "OpenTelemetryListener"]

_INSTALL_HINT = (
    "OpenTelemetryListener needs opentelemetry-api: pip install 'oauthflow[otel]' "
    "(and an SDK, e.g. opentelemetry-sdk, to export anything)"
)


class _HasCurrent(Protocol):
    """A TokenManager, as far as the expiry gauge is concerned."""

    @property
    def current(self) -> Token | None: ...


class _HasEntries(Protocol):
    """A TokenRegistry, as far as the expiry gauge is concerned."""

    def entries(self) -> Iterable[tuple[Any, _HasCurrent]]: ...


def _error_fields(error: BaseException | None) -> dict[str, str | int]:
    """What may be told about an error: its type, ``.error``, ``.code`` and ``.status``."""
    if error is None:
        return {}
    fields: dict[str, str | int] = {"error.type": type(error).__name__}
    for name in ("error", "code", "status"):
        value = getattr(error, name, None)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            fields[f"oauthflow.{'error_code' if name == 'code' else name}"] = value
    return fields


def _expires_in(token: Token | None, clock: Clock) -> float | None:
    if token is None or token.expires_at is None:
        return None
    return token.expires_at - clock.time()


# -- logging ------------------------------------------------------------------------------


class LoggingListener(TokenEventListener):
    """Logs each event with the standard :mod:`logging` module.

    Levels: INFO for a renewal (reason, duration, waiters, seconds to expiry), an adopted
    stored token and an invalidation (an API answered 401); WARNING for a failed renewal
    (error type and ``.error`` / ``.code``) and a store conflict; ERROR when the user
    must log in again.

    Args:
        logger: where to log (default: the ``oauthflow.events`` logger).
        clock: for the seconds-to-expiry field (tests pass a ManualClock).
        attributes: added to every line and record, e.g. ``key.attributes()`` of a
            registry key (see :meth:`bind`).
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        clock: Clock | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self._logger = logger or logging.getLogger("oauthflow.events")
        self._clock = clock or SystemClock()
        self._attributes = dict(attributes or {})

    def bind(self, attributes: Mapping[str, str]) -> LoggingListener:
        """A listener logging like this one, with ``attributes`` added to every line."""
        return LoggingListener(self._logger, clock=self._clock,
                               attributes={**self._attributes, **attributes})

    def on_renewal(self, event: RenewalEvent) -> None:
        fields: dict[str, Any] = {
            "oauthflow.reason": event.reason,
            "oauthflow.outcome": event.outcome,
            "oauthflow.duration": round(event.duration, 6),
            "oauthflow.waiters": event.waiters,
        }
        if event.outcome == "failed":
            fields.update(_error_fields(event.error))
            self._log(logging.WARNING, "token renewal failed", "renewal_failed", fields)
            return
        expires_in = _expires_in(event.token, self._clock)
        fields["oauthflow.expires_in"] = None if expires_in is None else round(expires_in, 3)
        what = "token renewed" if event.outcome == "renewed" else "stored token adopted"
        self._log(logging.INFO, what, event.outcome, fields)

    def on_invalidated(self, token: Token) -> None:
        self._log(logging.INFO, "access token refused by an API; the next get() renews it",
                  "invalidated", {})

    def on_reauthentication_required(self, error: ReauthenticationRequiredError) -> None:
        self._log(logging.ERROR, "re-authentication required: the refresh token was refused",
                  "reauthentication_required", dict(_error_fields(error)))

    def on_store_conflict(self) -> None:
        self._log(logging.WARNING, "token store changed by another manager during renewal",
                  "store_conflict", {})

    def _log(self, level: int, message: str, event: str, fields: Mapping[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        shown = {**self._attributes, **fields}
        text = " ".join(f"{name.removeprefix('oauthflow.')}={_render(value)}"
                        for name, value in shown.items())
        self._logger.log(level, "%s%s%s", message, ": " if text else "", text,
                         extra={"oauthflow": {"event": event, **shown}})


def _render(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str) and (not value or " " in value):
        return repr(value)
    return str(value)


# -- OpenTelemetry ------------------------------------------------------------------------


class _Instruments:
    """The tracer, the instruments and the watched managers, shared by bound listeners."""

    def __init__(self, tracer_provider: TracerProvider | None,
                 meter_provider: MeterProvider | None, clock: Clock) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as exc:
            raise ConfigurationError(_INSTALL_HINT) from exc
        self.trace = trace
        self.metrics = metrics
        self.clock = clock
        self.tracer = trace.get_tracer("oauthflow", tracer_provider=tracer_provider)
        meter = metrics.get_meter("oauthflow", meter_provider=meter_provider)
        self.requests = meter.create_counter(
            "oauthflow.token.requests", unit="{request}",
            description="Token renewals that asked the token endpoint, by outcome")
        self.adoptions = meter.create_counter(
            "oauthflow.token.adoptions", unit="{renewal}",
            description="Renewals that adopted a usable token from the store (no request)")
        self.coalesced = meter.create_counter(
            "oauthflow.token.renewals_coalesced", unit="{call}",
            description="get() calls that shared a renewal another call started")
        self.invalidations = meter.create_counter(
            "oauthflow.token.invalidations", unit="{token}",
            description="Tokens refused by an API (401) and renewed: 401 replays")
        self.reauthentications = meter.create_counter(
            "oauthflow.token.reauthentication_required", unit="{event}",
            description="Refresh tokens refused: a user must log in again")
        self.store_conflicts = meter.create_counter(
            "oauthflow.token.store_conflicts", unit="{event}",
            description="Shared-store saves that lost a compare-and-swap")
        self.duration = meter.create_histogram(
            "oauthflow.token.renewal.duration", unit="s",
            description="Time a renewal took, from start to token (or error)")
        self.lock = threading.Lock()  # watch() runs on the loop, observe() in the reader's
        self.watched: list[tuple[weakref.ref[Any], dict[str, str], bool]] = []
        meter.create_observable_gauge(
            "oauthflow.token.time_to_expiry", callbacks=[self.observe], unit="s",
            description="Seconds left before the current token expires (negative: expired)")

    def watch(self, target: object, attributes: dict[str, str], is_registry: bool) -> None:
        with self.lock:
            self.watched.append((weakref.ref(target), attributes, is_registry))

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """The gauge callback: one observation per watched manager holding a token.

        Runs in the metric reader's thread (e.g. a periodic exporter): it only reads
        ``current`` and registry snapshots, never touches the event loop.
        """
        with self.lock:
            self.watched = [entry for entry in self.watched if entry[0]() is not None]
            watched = list(self.watched)
        observations: list[Observation] = []
        for ref, attributes, is_registry in watched:
            target = ref()
            if target is None:
                continue
            pairs: Iterable[tuple[Mapping[str, str], _HasCurrent]] = (
                [(key.attributes(), manager) for key, manager in target.entries()]
                if is_registry else [({}, target)]
            )
            for extra, manager in pairs:
                left = _expires_in(manager.current, self.clock)
                if left is not None:
                    observations.append(self.metrics.Observation(left, {**attributes, **extra}))
        return observations


class OpenTelemetryListener(TokenEventListener):
    """Spans and metrics for OpenTelemetry (the ``otel`` extra).

    Per renewal, a span ``oauthflow.token.renewal`` (timed from the event's duration, a
    child of the span current in the caller that started the renewal) with attributes
    ``oauthflow.reason``, ``oauthflow.outcome``, ``oauthflow.waiters``, and error status
    on failure. Metrics: counters ``oauthflow.token.requests`` (by ``oauthflow.outcome``,
    ``oauthflow.reason`` and, if given, ``oauthflow.grant``), ``oauthflow.token.adoptions``,
    ``oauthflow.token.renewals_coalesced`` (waiters beyond the first),
    ``oauthflow.token.invalidations`` (401 replays),
    ``oauthflow.token.reauthentication_required``, ``oauthflow.token.store_conflicts``; the
    histogram ``oauthflow.token.renewal.duration`` (seconds); and the observable gauge
    ``oauthflow.token.time_to_expiry`` (seconds) for managers registered with
    :meth:`watch` / :meth:`watch_registry`.

    Args:
        tracer_provider, meter_provider: default to the global providers.
        grant: the ``oauthflow.grant`` attribute (e.g. ``"client_credentials"``,
            ``"refresh_token"``): the manager does not say which grant it renews with.
        attributes: added to every span and data point (keep their cardinality low).
        clock: for the time-to-expiry gauge (tests pass a ManualClock).

    Raises:
        ConfigurationError: opentelemetry-api is not installed.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        grant: str | None = None,
        attributes: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._instruments = _Instruments(tracer_provider, meter_provider, clock or SystemClock())
        self._attributes = dict(attributes or {})
        if grant is not None:
            self._attributes["oauthflow.grant"] = grant

    def bind(self, attributes: Mapping[str, str]) -> OpenTelemetryListener:
        """A listener sharing this one's instruments, with ``attributes`` added.

        For a registry: ``listeners_for=lambda key: [otel.bind(key.attributes())]``.
        """
        bound = copy.copy(self)
        bound._attributes = {**self._attributes, **attributes}
        return bound

    def watch(self, manager: _HasCurrent, *, name: str | None = None) -> None:
        """Report ``manager``'s seconds to expiry on ``oauthflow.token.time_to_expiry``.

        Held by a weak reference: a manager that is garbage collected drops out.
        ``name`` becomes the ``oauthflow.manager`` attribute.
        """
        attributes = dict(self._attributes)
        if name is not None:
            attributes["oauthflow.manager"] = name
        self._instruments.watch(manager, attributes, is_registry=False)

    def watch_registry(self, registry: _HasEntries) -> None:
        """Report every manager of a TokenRegistry on the gauge, with its key's attributes.

        Keys evicted from the registry drop out; held by a weak reference.
        """
        self._instruments.watch(registry, dict(self._attributes), is_registry=True)

    def on_renewal(self, event: RenewalEvent) -> None:
        ins = self._instruments
        base = {**self._attributes, "oauthflow.reason": event.reason,
                "oauthflow.outcome": event.outcome}
        failure = _error_fields(event.error) if event.outcome == "failed" else {}
        self._span(event, {**base, **failure, "oauthflow.waiters": event.waiters})
        point = {**base, **_types_only(failure)}
        if event.outcome == "adopted":
            ins.adoptions.add(1, point)
        else:
            ins.requests.add(1, point)
        ins.duration.record(event.duration, point)
        if event.waiters > 1:
            ins.coalesced.add(event.waiters - 1,
                              {**self._attributes, "oauthflow.reason": event.reason})

    def on_invalidated(self, token: Token) -> None:
        self._instruments.invalidations.add(1, self._attributes)

    def on_reauthentication_required(self, error: ReauthenticationRequiredError) -> None:
        self._instruments.reauthentications.add(1, self._attributes)

    def on_store_conflict(self) -> None:
        self._instruments.store_conflicts.add(1, self._attributes)

    def _span(self, event: RenewalEvent, attributes: Mapping[str, str | int]) -> None:
        """Record the renewal as a span that ended now and lasted ``event.duration``."""
        trace = self._instruments.trace
        end = time.time_ns()
        start = end - max(0, int(event.duration * 1e9))
        span = self._instruments.tracer.start_span(
            "oauthflow.token.renewal", start_time=start, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        )
        if event.outcome == "failed":
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(event.error).__name__))
        span.end(end_time=end)


def _types_only(failure: Mapping[str, str | int]) -> dict[str, str | int]:
    """Low-cardinality failure attributes for metrics: type and ``.error`` / ``.code``."""
    return {name: value for name, value in failure.items() if name != "oauthflow.status"}
