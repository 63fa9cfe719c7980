"""A :class:`TokenRegistry`: one token per (scope, resource, audience) for fan-out jobs.

A job that calls several APIs needs one token per API: a different ``scope``, RFC 8707
``resource`` or provider-specific ``audience`` each. The registry creates a
:class:`~oauthflow.TokenManager` per combination on first use and keeps it, so every key
gets the manager's guarantees (one renewal for N concurrent callers, cancellation safety,
renewal ahead of expiry), while all of them share **one** :class:`~oauthflow.Transport`
(one connection pool to the token endpoint).

Keys are normalised (:class:`~oauthflow.token_key.TokenKey`): scopes and resources are
sets, so ``["b", "a"]`` and ``["a", "b"]`` share one token.

The registry is bounded: beyond ``max_entries`` the least recently used key is evicted,
and a key unused for ``idle_ttl`` seconds too. An evicted manager is closed in the
background; a manager is never evicted while a :meth:`TokenRegistry.get` on it waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig, ServerMetadata, resolve_token_endpoint
from oauthflow.errors import ConfigurationError, TokenUnavailableError
from oauthflow.protocol.token_endpoint import Params, build_client_credentials_request
from oauthflow.renewal import TokenEventListener
from oauthflow.stores import TokenStore
from oauthflow.token import Token
from oauthflow.token_key import TokenKey
from oauthflow.token_manager import ManagerOptions, TokenManager
from oauthflow.transport import Transport, transport_for

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ManagerFactory", "RegistryTokenSource", "TokenRegistry"]

logger = logging.getLogger("oauthflow.registry")

ManagerFactory = Callable[[TokenKey], TokenManager]
"""Creates the manager of a key; see :meth:`TokenRegistry.for_client_credentials`."""


@dataclass(slots=True, eq=False)
class _Entry:
    manager: TokenManager
    last_used: float
    active: int = 0  # get() calls awaiting this manager now: never evict while > 0


class TokenRegistry:
    """Token managers by :class:`TokenKey`, created on first use, bounded, closed together.

    Most code uses :meth:`for_client_credentials`. The plain constructor takes any
    ``factory`` that builds a manager for a key (e.g. token exchange per audience).

    Args:
        factory: builds the manager of a key (called once per key until it is evicted).
        max_entries: keys kept at most; beyond it the least recently used idle key goes.
        idle_ttl: seconds after which an unused key is evicted (``None``: never).
        clock: the time source for ``idle_ttl`` (tests pass a ManualClock).
        validate: checks a key before its manager is built (raise ConfigurationError).
        owns: closed by :meth:`aclose` after the managers (the shared transport).

    Use it as ``async with registry:`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        factory: ManagerFactory,
        *,
        max_entries: int = 64,
        idle_ttl: float | None = None,
        clock: Clock | None = None,
        validate: Callable[[TokenKey], object] | None = None,
        owns: Sequence[Transport] = (),
    ) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError("max_entries must be an int >= 1")
        if idle_ttl is not None and not idle_ttl > 0:
            raise ConfigurationError("idle_ttl must be > 0 seconds, or None")
        self._factory = factory
        self._max_entries = max_entries
        self._idle_ttl = idle_ttl
        self._clock = clock or SystemClock()
        self._validate = validate
        self._owned = tuple(owns)
        self._entries: OrderedDict[TokenKey, _Entry] = OrderedDict()
        self._next_sweep = self._clock.monotonic() + (idle_ttl or 0.0)
        self._retired: list[TokenManager] = []  # evicted, not yet closed
        self._closing: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def for_client_credentials(
        cls,
        *,
        client: ClientConfig,
        token_endpoint: str | None = None,
        server: ServerMetadata | None = None,
        max_entries: int = 64,
        idle_ttl: float | None = None,
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
        store_for: Callable[[TokenKey], TokenStore | None] | None = None,
        listeners_for: Callable[[TokenKey], Sequence[TokenEventListener]] | None = None,
        **options: Unpack[ManagerOptions],
    ) -> TokenRegistry:
        """A registry of client credentials managers (RFC 6749 §4.4), one per key.

        Every manager sends its key's ``scope``, ``resource`` and extra parameters on each
        renewal, through one shared transport (created on ``session`` if given, unless
        ``transport`` is passed; a created one is closed by :meth:`aclose`).

        Args:
            store_for: the store of a key (each key needs its own: a store holds one
                token); ``None`` or a result of ``None``: memory only.
            listeners_for: event listeners of a key, added to ``options["listeners"]``
                (e.g. ``lambda key: [otel.bind(**key.attributes())]``).
            options: ``policy``, ``clock``, ``on_renewed``, ``on_renewal_failed``,
                ``listeners``: passed to every manager. ``store`` is refused: use
                ``store_for``.

        Raises:
            ConfigurationError: a bad endpoint or option (at once); a bad scope, resource
                or parameter (from :meth:`get` of that key, before any request).
        """
        if "store" in options:
            raise ConfigurationError("a registry needs one store per key: pass store_for")
        endpoint = resolve_token_endpoint(token_endpoint, server)
        owned, shared = transport_for(endpoint, transport, session, allow_insecure_http)
        clock = options["clock"] = options.get("clock") or SystemClock()
        listeners = tuple(options.pop("listeners", ()))

        def build(key: TokenKey) -> TokenManager:
            extra = tuple(listeners_for(key)) if listeners_for is not None else ()
            per_key: ManagerOptions = {
                **options,
                "store": store_for(key) if store_for is not None else None,
                "listeners": (*listeners, *extra),
            }
            return TokenManager.for_client_credentials(
                client=client, token_endpoint=endpoint, scope=key.scope,
                resource=key.resource, extra_params=key.extra_params, transport=shared,
                **per_key,
            )

        def validate(key: TokenKey) -> None:
            build_client_credentials_request(
                endpoint, client, scope=key.scope, resource=key.resource,
                extra_params=key.extra_params, now=clock.time(),
            )

        return cls(build, max_entries=max_entries, idle_ttl=idle_ttl, clock=clock,
                   validate=validate, owns=owned)

    # -- the API ----------------------------------------------------------------------------

    async def get(
        self,
        *,
        scope: Sequence[str] | None = None,
        resource: Sequence[str] = (),
        extra_params: Params = (),
    ) -> Token:
        """A valid token for this scope / resource / parameters (see TokenManager.get).

        A fresh token is returned without suspending. The first call for a key creates its
        manager; concurrent calls for one key share one renewal.

        Raises:
            ConfigurationError: an invalid scope, resource or parameter.
            TokenUnavailableError: the registry is closed.
            OAuthFlowError: whatever the key's renewal raised (OAuthError,
                TransportError, ...).

        Cancellation: cancelling the caller stops its wait only; the key's renewal goes
        on for the other callers (as for TokenManager.get).
        """
        return await self.get_for(TokenKey.of(scope, resource, extra_params))

    async def get_for(self, key: TokenKey) -> Token:
        """Like :meth:`get`, for a key built with :meth:`TokenKey.of` (no normalising)."""
        entry = self._checkout(key)
        entry.active += 1
        try:
            return await entry.manager.get()
        finally:
            entry.active -= 1
            entry.last_used = self._clock.monotonic()

    def invalidate_for(self, key: TokenKey, seen: Token) -> bool:
        """Mark ``seen`` as refused for ``key`` (see TokenManager.invalidate).

        Returns ``False`` (and does nothing) when the key has no manager now: a manager
        created later fetches a new token anyway. Never suspends.
        """
        entry = self._entries.get(key)
        return entry is not None and entry.manager.invalidate(seen)

    def manager(
        self,
        *,
        scope: Sequence[str] | None = None,
        resource: Sequence[str] = (),
        extra_params: Params = (),
    ) -> TokenManager:
        """The manager of a key, created on first use.

        It belongs to the registry: once evicted it is closed, and its ``get()`` raises
        TokenUnavailableError. Keep it for one use, not for long; for a middleware use
        :meth:`source`, which always reaches the key's current manager.
        """
        return self._checkout(TokenKey.of(scope, resource, extra_params)).manager

    def source(
        self,
        *,
        scope: Sequence[str] | None = None,
        resource: Sequence[str] = (),
        extra_params: Params = (),
    ) -> RegistryTokenSource:
        """A :class:`~oauthflow.TokenSource` for one key, e.g. for a BearerAuthMiddleware.

        Put one middleware per API origin, each with the source of its own audience::

            BearerAuthMiddleware(registry.source(resource=["https://a.example"]),
                                 origins=["https://a.example"])

        The key is checked now (ConfigurationError); no manager is created until used.
        """
        key = TokenKey.of(scope, resource, extra_params)
        if self._validate is not None:
            self._validate(key)
        return RegistryTokenSource(self, key)

    def entries(self) -> list[tuple[TokenKey, TokenManager]]:
        """The keys with a manager now, least recently used first (e.g. for metrics).

        A snapshot, safe to take from another thread (a metrics exporter's).
        """
        snapshot = list(self._entries.items())  # one C-level copy: atomic under the GIL
        return [(key, entry.manager) for key, entry in snapshot]

    def __len__(self) -> int:
        return len(self._entries)

    async def aclose(self) -> None:
        """Close every manager (waiting for renewals in flight) and the shared transport.

        Calls of :meth:`get` after this raise :class:`TokenUnavailableError`.

        Cancellation: if the caller is cancelled, managers already being closed finish
        closing in the background; the transport may stay open.
        """
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        managers = [entry.manager for entry in self._entries.values()]
        self._entries.clear()
        self._retire(*managers)
        if self._closing:
            await asyncio.wait(set(self._closing))
        for owned in self._owned:
            await owned.aclose()

    async def __aenter__(self) -> TokenRegistry:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._entries)} keys"
        return f"<TokenRegistry {state}, max_entries={self._max_entries}>"

    # -- entries and eviction ---------------------------------------------------------------

    def _checkout(self, key: TokenKey) -> _Entry:
        """The entry of ``key`` (created if needed), marked most recently used."""
        if self._closed:
            raise TokenUnavailableError("this TokenRegistry is closed")
        now = self._clock.monotonic()
        if now >= self._next_sweep:
            self._evict_idle(now)
        if self._retired:
            self._retire()
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            entry.last_used = now
        else:
            if self._validate is not None:
                self._validate(key)
            entry = self._entries[key] = _Entry(self._factory(key), last_used=now)
            logger.debug("new token manager for %r (%d keys)", key, len(self._entries))
            self._schedule_sweep()
        if len(self._entries) > self._max_entries:
            self._evict_least_recent()
        return entry

    def _evict_least_recent(self) -> None:
        """LRU: drop the oldest idle entries while there are more than ``max_entries``.

        The newest entry (just created) is never dropped; entries with a waiting
        ``get()`` are skipped, so the bound may be exceeded while they wait.
        """
        excess = len(self._entries) - self._max_entries
        victims = [key for key, entry in list(self._entries.items())[:-1] if entry.active == 0]
        for key in victims[:excess]:
            self._retire(self._entries.pop(key).manager)
            logger.debug("evicted least recently used %r", key)

    def _evict_idle(self, now: float) -> None:
        """Drop entries unused for ``idle_ttl`` seconds (never one with a waiting get())."""
        ttl = self._idle_ttl
        if ttl is None:
            self._next_sweep = float("inf")
            return
        idle = [key for key, entry in self._entries.items()
                if entry.active == 0 and now - entry.last_used >= ttl]
        for key in idle:
            self._retire(self._entries.pop(key).manager)
            logger.debug("evicted idle %r", key)
        self._next_sweep = now + ttl / 4

    def _retire(self, *managers: TokenManager) -> None:
        """Close evicted managers in background tasks (kept referenced until done).

        Without a running loop (``manager()`` called from synchronous code) they are
        closed at the next access from a coroutine.
        """
        self._retired.extend(managers)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        retired, self._retired = self._retired, []
        for manager in retired:
            task = loop.create_task(manager.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closed_one)

    def _closed_one(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("closing an evicted token manager failed: %s",
                           type(task.exception()).__name__)

    def _schedule_sweep(self) -> None:
        """Arm a timer so idle entries go even if nothing calls the registry any more."""
        if self._idle_ttl is None or self._timer is not None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self._idle_ttl, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._evict_idle(self._clock.monotonic())
        if self._entries:
            self._schedule_sweep()


class RegistryTokenSource:
    """The :class:`~oauthflow.TokenSource` of one key of a :class:`TokenRegistry`.

    Every call goes through the registry, so it reaches the key's current manager even
    after an eviction re-created it. Hashable by identity (for aiohttp middlewares).
    """

    __slots__ = ("key", "registry")

    def __init__(self, registry: TokenRegistry, key: TokenKey) -> None:
        self.registry = registry
        self.key = key

    async def get(self) -> Token:
        """A valid token for this key (see :meth:`TokenRegistry.get`).

        Cancellation: stops this caller's wait only; the renewal goes on.
        """
        return await self.registry.get_for(self.key)

    def invalidate(self, seen: Token) -> bool:
        """Mark ``seen`` as refused (a 401); the next :meth:`get` renews. Never suspends."""
        return self.registry.invalidate_for(self.key, seen)

    def __repr__(self) -> str:
        return f"RegistryTokenSource({self.key!r})"
