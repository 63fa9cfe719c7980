"""The TokenManager: a valid access token on demand, with one shared renewal.

The contract (DESIGN.md "TokenManager contract"):

1. A fresh token is returned without suspending: no lock, no await.
2. One renewal at a time: a single :class:`asyncio.Task`; every caller waits on a future of
   its own that the task completes (``asyncio.shield``'s guarantee, without a shield and
   its callbacks per caller); the task clears itself when done. N callers -> one token
   request.
3. Cancelling a caller never cancels the shared renewal; the renewal has its own timeout.
   (A lock held across the refresh fails this: with refresh-token rotation, one cancelled
   caller turns into ``invalid_grant`` for everyone after.)
4. A failure reaches every current waiter; the next call starts a new attempt. The
   manager never loops on its own.
5. ``invalidate(seen)`` renews only if ``seen`` is still the current token, so 500
   concurrent 401s cause one renewal.
6. The new token is saved in the store before any caller receives it.
7. Expiry is scheduled on the monotonic clock from ``expires_in`` at receipt, renewed a
   leeway early; a token without a known expiry gets ``default_lifetime``.
8. No lock is held while anything else (an API request) is in flight.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypedDict, TypeVar

import aiohttp

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig, ServerMetadata, resolve_token_endpoint
from oauthflow.errors import (
    ConfigurationError,
    ReauthenticationRequiredError,
    StoreConflictError,
    TokenUnavailableError,
)
from oauthflow.flows.renewers import Renewer, client_credentials_renewer, refresh_token_renewer
from oauthflow.protocol.token_endpoint import Params
from oauthflow.renewal import (
    RenewalEvent,
    RenewalOutcome,
    RenewalPolicy,
    RenewalReason,
    RenewalStats,
    TokenEventListener,
)
from oauthflow.stores import SharedTokenStore, TokenStore
from oauthflow.token import Token
from oauthflow.transport import Transport, transport_for

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ManagerOptions", "Renewer", "TokenManager"]

logger = logging.getLogger("oauthflow.token_manager")

_NEVER = -math.inf
_WAKE_BATCH = 256
"""Waiters released per event-loop iteration when a renewal ends (see ``_wake``)."""
_T = TypeVar("_T")


class ManagerOptions(TypedDict, total=False):
    """Keyword options every TokenManager constructor takes (see :class:`TokenManager`)."""

    store: TokenStore | None
    policy: RenewalPolicy | None
    clock: Clock | None
    on_renewed: Callable[[Token], object] | None
    on_renewal_failed: Callable[[BaseException], object] | None
    listeners: Sequence[TokenEventListener]


class TokenManager:
    """Hands out a valid access token and renews it: once, for everyone, safely.

    Use one of the constructors :meth:`for_client_credentials` and
    :meth:`for_refresh_token`, or pass any coroutine function that produces a token.

    Args:
        renew: called with the current token (or ``None``) to get a new one.
        token: a token to start with (e.g. from a login). Without one, the store is read
            on first use, and then ``renew`` is called.
        store: persistence; saved to before any caller sees a new token.
        policy: leeway, timeouts (see :class:`RenewalPolicy`).
        clock: time source (tests pass a :class:`~oauthflow.clock.ManualClock`).
        on_renewed: called with each new token after it was saved (synchronous; must not
            block; errors it raises are logged and ignored).
        on_renewal_failed: called with the exception of each failed renewal.
        listeners: receive every event (renewals with reason and timing, invalidations,
            re-authentication, store conflicts): see :class:`TokenEventListener`.
        owns: things closed by :meth:`aclose` (the constructors pass their transport).

    Use it as ``async with TokenManager(...) as tokens:`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        renew: Renewer,
        *,
        token: Token | None = None,
        store: TokenStore | None = None,
        policy: RenewalPolicy | None = None,
        clock: Clock | None = None,
        on_renewed: Callable[[Token], object] | None = None,
        on_renewal_failed: Callable[[BaseException], object] | None = None,
        listeners: Sequence[TokenEventListener] = (),
        owns: Sequence[Transport] = (),
    ) -> None:
        self._renew = renew
        self._store = store
        self._policy = policy or RenewalPolicy()
        self._clock = clock or SystemClock()
        self._monotonic = self._clock.monotonic  # bound once: fresh() runs on every request
        self._on_renewed = on_renewed
        self._on_renewal_failed = on_renewal_failed
        self._listeners = tuple(listeners)
        self._owned = tuple(owns)
        self._token: Token | None = None
        self._renew_at = _NEVER  # monotonic: from here on, renew (in the background)
        self._usable_until = _NEVER  # monotonic: from here on, callers must wait
        self._background_not_before = _NEVER
        self._rejected: str | None = None  # access token refused by an API (invalidate)
        self._inflight: asyncio.Task[Token] | None = None
        self._waiting: list[asyncio.Future[Token]] = []  # callers of the renewal in flight
        self._outcome: RenewalOutcome = "renewed"
        self._store_read = store is None or token is not None
        self._closed = False
        self.stats = RenewalStats()
        if token is not None:
            self._publish(token)

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def for_client_credentials(
        cls,
        *,
        client: ClientConfig,
        token_endpoint: str | None = None,
        server: ServerMetadata | None = None,
        scope: Sequence[str] | None = None,
        resource: Sequence[str] = (),
        extra_params: Params = (),
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
        **options: Unpack[ManagerOptions],
    ) -> TokenManager:
        """A manager for the client credentials grant (RFC 6749 §4.4).

        ``scope``, ``resource`` (RFC 8707) and ``extra_params`` (e.g. ``audience``) are
        sent on every renewal, not only the first. Give ``token_endpoint`` or ``server``.
        Without ``transport``, one is created (on ``session`` if given) and closed by
        :meth:`aclose`. ``options``: ``store``, ``policy``, ``clock``, ``on_renewed``,
        ``on_renewal_failed``, ``listeners`` (as for :class:`TokenManager`).
        """
        endpoint = resolve_token_endpoint(token_endpoint, server)
        owned, sender = transport_for(endpoint, transport, session, allow_insecure_http)
        time_source = options["clock"] = options.get("clock") or SystemClock()
        renew = client_credentials_renewer(
            sender, endpoint, client, scope=scope, resource=resource,
            extra_params=extra_params, clock=time_source,
        )
        return cls(renew, owns=owned, **options)

    @classmethod
    def for_refresh_token(
        cls,
        *,
        client: ClientConfig,
        refresh_token: str | None = None,
        token: Token | None = None,
        token_endpoint: str | None = None,
        server: ServerMetadata | None = None,
        scope: Sequence[str] | None = None,
        resource: Sequence[str] = (),
        extra_params: Params = (),
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
        **options: Unpack[ManagerOptions],
    ) -> TokenManager:
        """A manager that keeps a session alive with its refresh token (RFC 6749 §6).

        Start it from a ``token`` (e.g. the result of a login), from a bare
        ``refresh_token``, or from what ``store`` holds. A rotated refresh token is saved
        before use; a response without one keeps the old one.

        Raises (from :meth:`get`): :class:`ReauthenticationRequiredError` when the server
        refuses the refresh token; the user must log in again.
        """
        if token is not None and refresh_token is not None:
            raise ConfigurationError("give either token or refresh_token, not both")
        if token is None and refresh_token is None and options.get("store") is None:
            raise ConfigurationError("for_refresh_token needs a token, a refresh_token or a store")
        endpoint = resolve_token_endpoint(token_endpoint, server)
        owned, sender = transport_for(endpoint, transport, session, allow_insecure_http)
        time_source = options["clock"] = options.get("clock") or SystemClock()
        renew = refresh_token_renewer(
            sender, endpoint, client, initial_refresh_token=refresh_token, scope=scope,
            resource=resource, extra_params=extra_params, clock=time_source,
        )
        return cls(renew, token=token, owns=owned, **options)

    # -- the API --------------------------------------------------------------------------

    async def get(self) -> Token:
        """Return a valid token, renewing it first if needed.

        A fresh token is returned without suspending. Inside the leeway window the
        current token is returned and one renewal starts in the background. Otherwise
        the caller waits for the one shared renewal.

        Raises:
            OAuthFlowError: the renewal failed (every waiter gets the same error): an
                OAuthError, ReauthenticationRequiredError, InvalidResponseError or
                TransportError.
            TokenUnavailableError: the manager is closed, or the renewal timed out.

        Cancellation: cancelling the caller (or its timeout expiring) stops the caller's
        wait only. The renewal goes on for the other callers and its result is kept, so a
        rotated refresh token is never lost.
        """
        token = self.fresh()
        if token is not None:
            return token
        return await self._waiter()

    def get_future(self) -> asyncio.Future[Token]:
        """:meth:`get` as a future of the caller's own instead of a coroutine.

        Already done when the token is fresh (or inside the leeway, which starts a
        background renewal); otherwise it is done when the one shared renewal ends, with
        its token or its error. For hot paths that wait on many tokens at once, such as
        :class:`~oauthflow.BearerAuthMiddleware` in a refresh storm: awaiting it costs
        one object fewer than a :meth:`get` coroutine per waiting caller.

        Raises:
            TokenUnavailableError: when called on a closed manager.

        Cancellation: cancelling the future (which cancelling a task awaiting it does)
        stops that caller's wait only; the renewal goes on for the others.
        """
        token = self.fresh()
        if token is None:
            return self._waiter()
        done: asyncio.Future[Token] = asyncio.get_running_loop().create_future()
        done.set_result(token)
        return done

    def _waiter(self) -> asyncio.Future[Token]:
        """A new future completed by the renewal (started if none is in flight)."""
        task = self._renewal()
        self.stats.waits += 1
        # Our own future, completed by the task: cancelling this caller cancels only it.
        waiter: asyncio.Future[Token] = task.get_loop().create_future()
        self._waiting.append(waiter)
        return waiter

    def fresh(self) -> Token | None:
        """The current token if it can be handed out now, else ``None``; never suspends.

        What :meth:`get` returns without waiting: a fresh token, or inside the leeway the
        current one (a background renewal is started, as :meth:`get` does). ``None`` means
        :meth:`get` would wait for a renewal. For hot paths that want to skip a coroutine.
        """
        token = self._token
        if token is not None:
            now = self._monotonic()
            if now < self._renew_at:
                return token
            if now < self._usable_until:
                self._renew_in_background(now)
                return token
        return None

    def invalidate(self, seen: Token) -> bool:
        """Mark ``seen`` as refused (e.g. an API answered 401 for it).

        Only if ``seen`` is still the current token is it marked, so the next :meth:`get`
        waits for a renewal (it stays in :attr:`current` until replaced, with its refresh
        token); a token already replaced is ignored. Returns whether it was the current
        token. Never suspends.
        """
        current = self._token
        if current is None or (current is not seen and current.access_token != seen.access_token):
            return False
        if self._usable_until != _NEVER:
            self._renew_at = self._usable_until = _NEVER
            self._rejected = current.access_token
            self.stats.invalidations += 1
            self._emit("on_invalidated", current)
        return True

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (a closed manager hands out no token)."""
        return self._closed

    @property
    def current(self) -> Token | None:
        """The token held now, valid or not (no I/O, no renewal)."""
        return self._token

    async def aclose(self) -> None:
        """Stop handing out tokens; wait for a renewal in flight; close owned transports.

        A renewal in flight is awaited (bounded by its timeout), not cancelled, so a
        rotated refresh token it receives is still saved.

        Cancellation: if the caller is cancelled while waiting, the renewal still
        completes in the background, but owned transports are not closed.
        """
        self._closed = True
        self._renew_at = self._usable_until = _NEVER
        task = self._inflight
        if task is not None:
            await asyncio.wait([task])
        for owned in self._owned:
            await owned.aclose()

    async def __aenter__(self) -> TokenManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("renewing" if self._inflight else "idle")
        return f"<TokenManager {state} token={self._token!r}>"

    # -- the renewal ----------------------------------------------------------------------

    def _renewal(self) -> asyncio.Task[Token]:
        """The renewal in flight, started if there is none."""
        if self._closed:
            raise TokenUnavailableError("this TokenManager is closed")
        task = self._inflight
        if task is None:
            self._waiting = []
            task = asyncio.get_running_loop().create_task(self._run_renewal(self._reason()))
            task.add_done_callback(functools.partial(_wake, self._waiting))
            self._inflight = task
        return task

    def _renew_in_background(self, now: float) -> None:
        if self._inflight is None and now >= self._background_not_before and not self._closed:
            self.stats.background_renewals += 1
            self._renewal()

    def _reason(self) -> RenewalReason:
        if self._token is None:
            return "initial"
        if self._rejected is not None:
            return "invalidated"
        return "expiring" if self._clock.monotonic() < self._usable_until else "expired"

    async def _run_renewal(self, reason: RenewalReason) -> Token:
        started = self._clock.monotonic()
        try:
            token = await asyncio.wait_for(self._load_or_renew(), self._policy.renewal_timeout)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            error = TokenUnavailableError(
                f"token renewal did not finish within {self._policy.renewal_timeout}s"
            )
            self._report_failure(error, reason, started)
            raise error from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report_failure(exc, reason, started)
            raise
        else:
            self._report(RenewalEvent(
                reason=reason, outcome=self._outcome, waiters=len(self._waiting), token=token,
                duration=self._clock.monotonic() - started,
            ))
            return token
        finally:
            self._inflight = None

    async def _load_or_renew(self) -> Token:
        store = self._store
        if isinstance(store, SharedTokenStore):
            return await self._renew_shared(store)
        if not self._store_read:
            assert store is not None
            stored = await store.load()
            self._store_read = True
            if stored is not None:
                self._publish(stored)
                if self._clock.monotonic() < self._usable_until:
                    logger.debug("using the stored token")
                    self._outcome = "adopted"
                    return stored
        token = await self._renew_now(self._token)
        if store is not None:
            await store.save(token)
        return self._accept(token)

    async def _renew_shared(self, store: SharedTokenStore) -> Token:
        """Renew under the fleet-wide lock: adopt what another manager saved, or renew once.

        The refresh token used is the stored one (another process may have rotated it);
        the save is a compare-and-swap, so a lock that expired under a slow holder cannot
        make two managers overwrite each other silently.
        """
        async with store.renewal_lock():
            stored = await store.load_versioned()
            self._store_read = True
            if stored is not None and self._adoptable(stored.token):
                logger.debug("adopting the token another manager saved")
                self._publish(stored.token)
                self._outcome = "adopted"
                return stored.token
            base = stored.token if stored is not None else self._token
            token = await self._renew_now(base)
            try:
                await store.save_if_unchanged(token, None if stored is None else stored.version)
            except StoreConflictError:
                self._emit("on_store_conflict")
                winner = await store.load_versioned()
                if winner is None or not self._adoptable(winner.token):
                    raise
                logger.debug("store conflict: adopting the token saved meanwhile")
                self._publish(winner.token)
                self._outcome = "adopted"
                return winner.token
        return self._accept(token)

    async def _renew_now(self, current: Token | None) -> Token:
        logger.debug("renewing the token")
        return await self._renew(current)

    def _accept(self, token: Token) -> Token:
        """Publish a token this manager obtained (already saved) and report it."""
        self._publish(token)
        self._outcome = "renewed"
        self.stats.renewals += 1
        self._notify(self._on_renewed, token)
        logger.debug("token renewed; expires_at=%s", token.expires_at)
        return token

    def _adoptable(self, token: Token) -> bool:
        """Whether a stored token can be handed out as is (fresh, and not refused by an API)."""
        if token.access_token == self._rejected:
            return False
        renew_at, _ = self._deadlines(token)
        return self._clock.monotonic() < renew_at

    def _deadlines(self, token: Token) -> tuple[float, float]:
        """When to renew ``token`` and until when it may be handed out (monotonic clock).

        The leeway is capped at half the token's lifetime and the margin at a tenth, so a
        3-second token is renewed after 1.5 s and handed out until 2.7 s.
        """
        now_wall = self._clock.time()
        now = self._clock.monotonic()
        expires_at = token.expires_at
        if expires_at is None:
            expires_at = (token.issued_at or now_wall) + self._policy.default_lifetime
        remaining = expires_at - now_wall
        lifetime = expires_at - token.issued_at if token.issued_at else remaining
        lifetime = max(lifetime, 0.0)
        margin = min(self._policy.expiry_margin, lifetime / 10)
        leeway = max(min(self._policy.leeway, lifetime / 2), margin)
        return now + remaining - leeway, now + remaining - margin

    def _publish(self, token: Token) -> None:
        """Make ``token`` current and schedule its renewal on the monotonic clock."""
        self._token = token
        self._background_not_before = _NEVER
        if token.access_token != self._rejected:
            self._rejected = None
        if self._closed:  # a renewal that finished during aclose(): kept, not handed out
            return
        self._renew_at, self._usable_until = self._deadlines(token)

    def _report_failure(self, exc: BaseException, reason: RenewalReason, started: float) -> None:
        self.stats.failures += 1
        self._background_not_before = self._clock.monotonic() + self._policy.failure_cooldown
        logger.warning("token renewal failed: %s: %s", type(exc).__name__, exc)
        self._notify(self._on_renewal_failed, exc)
        self._report(RenewalEvent(
            reason=reason, outcome="failed", waiters=len(self._waiting), error=exc,
            duration=self._clock.monotonic() - started,
        ))
        if isinstance(exc, ReauthenticationRequiredError):
            self._emit("on_reauthentication_required", exc)

    def _report(self, event: RenewalEvent) -> None:
        self._emit("on_renewal", event)

    def _emit(self, hook: str, *args: object) -> None:
        for listener in self._listeners:
            try:
                getattr(listener, hook)(*args)
            except Exception:
                logger.exception("a TokenEventListener raised in %s; ignored", hook)

    @staticmethod
    def _notify(hook: Callable[[_T], object] | None, value: _T) -> None:
        if hook is None:
            return
        try:
            hook(value)
        except Exception:
            logger.exception("a TokenManager hook raised; ignored")


def _wake(waiting: list[asyncio.Future[Token]], task: asyncio.Task[Token]) -> None:
    """Hand the renewal's outcome to every caller still waiting for it.

    A caller that was cancelled meanwhile has a cancelled future: it is skipped. The task's
    exception is marked as seen (a background renewal may have no waiter), and so is each
    waiter's, in case its caller is cancelled before it resumes.

    Waiters are released :data:`_WAKE_BATCH` per event-loop iteration, in the order they
    came: waking 10,000 at once would queue 10,000 wake-ups before the loop reads a
    single response, while their requests wait for the same few connections anyway.
    Callers arriving meanwhile get the new token at once (it is already published). The
    manager keeps no waiter once it has released it.
    """
    queue = collections.deque(waiting)
    waiting.clear()
    if task.cancelled():
        for waiter in queue:
            waiter.cancel()
        return
    _release(task.get_loop(), queue, task)


def _release(
    loop: asyncio.AbstractEventLoop,
    waiting: collections.deque[asyncio.Future[Token]],
    task: asyncio.Task[Token],
) -> None:
    """Release up to :data:`_WAKE_BATCH` waiters; the rest in the next loop iteration."""
    error = task.exception()
    for _ in range(min(_WAKE_BATCH, len(waiting))):
        waiter = waiting.popleft()
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(task.result())
        else:
            waiter.set_exception(error)
            waiter.exception()
    if waiting:
        loop.call_soon(_release, loop, waiting, task)
