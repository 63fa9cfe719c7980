"""What a TokenManager is told (its policy) and what it tells (its counters and events).

- :class:`RenewalPolicy`: when to renew and how long to wait for a renewal.
- :class:`RenewalStats`: counters, cheap to keep, read at any time.
- :class:`TokenEventListener`: hooks for logging, metrics and tracing (see
  ``oauthflow.telemetry`` for OpenTelemetry), called with a :class:`RenewalEvent` after each
  renewal, and on invalidations, re-authentication and store conflicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from oauthflow.errors import ConfigurationError, ReauthenticationRequiredError
from oauthflow.token import Token

__all__ = [
    "RenewalEvent",
    "RenewalOutcome",
    "RenewalPolicy",
    "RenewalReason",
    "RenewalStats",
    "TokenEventListener",
]

RenewalReason = Literal["initial", "expiring", "expired", "invalidated"]
"""Why a renewal started: no token yet, inside the leeway (in the background), past the
usable window, or an API refused the token (:meth:`TokenManager.invalidate`)."""

RenewalOutcome = Literal["renewed", "adopted", "failed"]
"""``renewed``: a token request succeeded; ``adopted``: a usable token was found in the
store (saved by an earlier run or another process), no request made; ``failed``."""



@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalPolicy:
    """When a TokenManager renews, and how long it waits for a renewal.

    Attributes:
        leeway: start renewing this many seconds before expiry. Until ``expiry_margin``
            callers keep receiving the current token while one renewal runs in the
            background (no caller waits). Capped at half the token's lifetime, so
            short-lived tokens work.
        expiry_margin: a token with less than this left is never handed out; callers wait
            for the renewal instead. Capped at a tenth of the lifetime.
        default_lifetime: assumed lifetime of a token whose response had no ``expires_in``
            and whose access token is not a JWT with ``exp``. A 401 still renews it early.
        renewal_timeout: a renewal that takes longer fails with
            :class:`TokenUnavailableError` (a hung server must not hang every caller).
        failure_cooldown: after a failed *background* renewal, callers keep the still-valid
            token for this long before another background attempt. (A caller that needs a
            new token always starts a new attempt.)
    """

    leeway: float = 30.0
    expiry_margin: float = 5.0
    default_lifetime: float = 600.0
    renewal_timeout: float = 30.0
    failure_cooldown: float = 2.0

    def __post_init__(self) -> None:
        for name in ("leeway", "expiry_margin", "default_lifetime", "renewal_timeout",
                     "failure_cooldown"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"RenewalPolicy.{name} must be a finite number >= 0")
        if self.renewal_timeout <= 0 or self.default_lifetime <= 0:
            raise ConfigurationError("renewal_timeout and default_lifetime must be > 0")


@dataclass(slots=True)
class RenewalStats:
    """Counters of what a TokenManager did (read :attr:`TokenManager.stats`).

    Attributes:
        renewals: token requests that succeeded (the store's token, when used, is not one).
        failures: renewals that failed.
        background_renewals: renewals started while callers kept the current token.
        waits: calls of :meth:`TokenManager.get` that had to wait for a renewal (a renewal
            shared by N waiting callers counts N here and 1 in ``renewals``).
        invalidations: calls of :meth:`TokenManager.invalidate` that dropped the current
            token (later calls for the same token count nothing).
    """

    renewals: int = 0
    failures: int = 0
    background_renewals: int = 0
    waits: int = 0
    invalidations: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalEvent:
    """One renewal, reported after it ended.

    Attributes:
        reason: why it started.
        outcome: how it ended.
        duration: seconds it took (monotonic clock).
        waiters: calls of ``get()`` that waited for it (0 for a background renewal nobody
            needed yet).
        token: the new token (``renewed``/``adopted``); its secrets are redacted in ``repr``.
        error: the exception (``failed``).
    """

    reason: RenewalReason
    outcome: RenewalOutcome
    duration: float
    waiters: int
    token: Token | None = None
    error: BaseException | None = None


class TokenEventListener:
    """Receives a TokenManager's events. Subclass it and override what you need.

    Every method is called synchronously from the manager, outside any lock; it must not
    block (schedule a task for slow work). An exception it raises is logged and ignored.
    """

    def on_renewal(self, event: RenewalEvent) -> None:
        """A renewal ended (renewed, adopted from the store, or failed)."""

    def on_invalidated(self, token: Token) -> None:
        """An API refused the current token; the next ``get()`` renews (a 401 replay)."""

    def on_reauthentication_required(self, error: ReauthenticationRequiredError) -> None:
        """The refresh token was refused: the user must log in again."""

    def on_store_conflict(self) -> None:
        """A shared store was written by another manager during our renewal."""
