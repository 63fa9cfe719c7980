"""The provider's signing keys (JWKS), fetched from ``jwks_uri``, cached, refreshed with care.

Spec: RFC 7517 §4-5 (JWK, JWK Set); OpenID Connect Core §10.1.1 (rotation of asymmetric
signing keys): "The RP would then ... retrieve the keys from the jwks_uri ... when it sees a
kid value it has not seen before" and "The signer can begin using a new key at its
discretion and signals the change to the verifier using the kid value."

The cache:

- fetches on first use, then again when the keys are older than ``max_age`` (if that
  fetch fails, the keys it has are kept and a warning is logged);
- on a ``kid`` it does not know, fetches **once** more, but never more often than once per
  ``min_refresh_interval`` (default 60 s): a flood of tokens with made-up ``kid`` values
  costs the provider at most one request per interval;
- runs one fetch at a time: concurrent callers share it (a task awaited through
  :func:`asyncio.shield`; cancelling a caller never cancels the fetch);
- selects a key by ``kid``, the token's ``alg`` (key type and curve), ``use`` (``sig`` or
  absent) and the key's own ``alg``; without ``kid``, only a single suitable key is used.

Keys of unknown types, symmetric (``oct``) keys, encryption keys and RSA keys shorter than
2048 bits (RFC 7518 §3.3) are skipped; private members in a published JWK are dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError, TransportError
from oauthflow.oidc._single_flight import SingleFlight
from oauthflow.oidc.errors import IdTokenError
from oauthflow.oidc.jose import VerifyingKey, key_suits
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.snippet import body_snippet
from oauthflow.transport import Transport

__all__ = ["JwksCache", "parse_jwks", "parse_jwks_response", "select_key"]

logger = logging.getLogger("oauthflow.oidc")

_KEY_TYPES: Final = frozenset({"RSA", "EC", "OKP"})
# RFC 7518 §6.3.2 / §6.2.2, RFC 8037 §2: private members of a JWK.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
_MIN_RSA_BITS: Final = 2048
_ACCEPT: Final = "application/jwk-set+json, application/json"


def parse_jwks(document: Mapping[str, Any]) -> tuple[VerifyingKey, ...]:
    """The usable public signature keys of a JWK Set document.

    RFC 7517 §5: "keys" REQUIRED, an array of JWKs. §5 also says "Implementations SHOULD
    ignore JWKs within a JWK Set that use "kty" (key type) values that are not understood
    by them, that are missing required members, or for which values are out of the
    supported ranges": such keys are skipped, not fatal.

    Raises:
        InvalidResponseError: ``missing_field`` / ``invalid_field_type`` for ``keys``.
    """
    keys = document.get("keys")
    if keys is None:
        raise InvalidResponseError(InvalidResponseError.MISSING_FIELD, "the JWKS has no 'keys'")
    if not isinstance(keys, list):
        raise InvalidResponseError(
            InvalidResponseError.INVALID_FIELD_TYPE, "the JWKS member 'keys' is not an array"
        )
    usable = (_import_key(jwk) for jwk in keys)
    return tuple(key for key in usable if key is not None)


def _import_key(jwk: object) -> VerifyingKey | None:
    if not isinstance(jwk, dict) or jwk.get("kty") not in _KEY_TYPES:
        return None
    use = jwk.get("use")
    if use is not None and use != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if jwk["kty"] == "RSA" and _rsa_bits(jwk.get("n")) < _MIN_RSA_BITS:
        return None  # checked before import: joserfc would only warn
    public = {name: value for name, value in jwk.items() if name not in _PRIVATE_MEMBERS}
    if isinstance(key_ops, list):
        public["key_ops"] = ["verify"]
    try:
        key = JWKRegistry.import_key(public)
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(key, (RSAKey, ECKey, OKPKey)):
        return None
    return key


def _rsa_bits(modulus: object) -> int:
    """Bit length of an RSA JWK's ``n`` (RFC 7518 §6.3.1.1: base64urlUInt), 0 if unreadable."""
    if not isinstance(modulus, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def parse_jwks_response(response: HttpResponse) -> tuple[VerifyingKey, ...]:
    """The keys of a ``jwks_uri`` response (200, a JSON object with ``keys``).

    Raises:
        InvalidResponseError: ``unexpected_status``, ``response_not_json``,
            ``response_not_object``, or as :func:`parse_jwks`.
    """
    if response.status != 200:
        raise InvalidResponseError(
            InvalidResponseError.UNEXPECTED_STATUS, "the JWKS could not be fetched",
            status=response.status, body_snippet=body_snippet(response.body),
        )
    try:
        document = json.loads(response.body)
    except (ValueError, RecursionError):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_JSON, "the JWKS is not JSON",
            status=response.status, body_snippet=body_snippet(response.body),
        ) from None
    if not isinstance(document, dict):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_OBJECT, "the JWKS is not a JSON object",
            status=response.status,
        )
    return parse_jwks(document)


def select_key(keys: Sequence[VerifyingKey], alg: str, kid: str | None) -> VerifyingKey | None:
    """The key to verify an ``alg`` signature with, or ``None`` when no key fits.

    With ``kid``: the key with that ``kid`` that suits ``alg``. Without: the only key that
    suits ``alg`` (OIDC Core §10.1: "If there are multiple keys in the referenced JWK Set
    document, a kid value MUST be provided in the JOSE Header").

    Raises:
        IdTokenError: ``kid_ambiguous``, when several keys fit.
    """
    candidates = [
        key for key in keys if key_suits(key, alg) and (kid is None or key.kid == kid)
    ]
    if len(candidates) > 1:
        reason = "the JWT has no 'kid'" if kid is None else "several keys share the JWT's 'kid'"
        raise IdTokenError(
            IdTokenError.KID_AMBIGUOUS, f"{reason} and {len(candidates)} {alg} keys could verify it"
        )
    return candidates[0] if candidates else None


class JwksCache:
    """The provider's signing keys, fetched from ``jwks_uri`` and cached.

    Args:
        transport: sends the GET (``https``, or loopback ``http``).
        jwks_uri: the provider's ``jwks_uri`` (from discovery).
        algorithms: the JWS algorithms to accept for tokens verified with these keys when
            the caller names none: typically the provider's
            ``id_token_signing_alg_values_supported`` (see :meth:`for_server`). ``None``
            accepts every asymmetric algorithm; ``none`` is refused in any case.
        min_refresh_interval: seconds between two fetches caused by unknown keys.
        max_age: seconds after which the keys are fetched again before use.
        clock: time source (monotonic); tests pass a :class:`~oauthflow.ManualClock`.

    Use one cache per provider and event loop, for the life of the application.
    """

    def __init__(
        self,
        transport: Transport,
        jwks_uri: str,
        *,
        algorithms: Collection[str] | None = None,
        min_refresh_interval: float = 60.0,
        max_age: float = 3600.0,
        clock: Clock | None = None,
    ) -> None:
        for name, value in (("min_refresh_interval", min_refresh_interval), ("max_age", max_age)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"{name} must be a finite number of seconds >= 0")
        if not jwks_uri:
            raise ConfigurationError("jwks_uri must not be empty")
        self._transport = transport
        self._jwks_uri = jwks_uri
        self._algorithms = None if algorithms is None else frozenset(algorithms)
        self._min_refresh_interval = float(min_refresh_interval)
        self._max_age = float(max_age)
        self._clock = clock or SystemClock()
        self._keys: tuple[VerifyingKey, ...] = ()
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._last_attempt: float | None = None  # monotonic time of the last fetch started
        self._fetches = 0
        self._flight: SingleFlight[None] = SingleFlight()

    @classmethod
    def for_server(
        cls,
        transport: Transport,
        server: ServerMetadata,
        *,
        min_refresh_interval: float = 60.0,
        max_age: float = 3600.0,
        clock: Clock | None = None,
    ) -> JwksCache:
        """A cache for ``server.jwks_uri``, accepting the algorithms the server advertises
        in ``id_token_signing_alg_values_supported`` (when it does).

        Raises:
            ConfigurationError: the metadata has no ``jwks_uri``.
        """
        if not server.jwks_uri:
            raise ConfigurationError("the server metadata has no jwks_uri")
        advertised = server.extra.get("id_token_signing_alg_values_supported")
        algorithms = advertised if isinstance(advertised, list) else None
        return cls(
            transport, server.jwks_uri, algorithms=algorithms,
            min_refresh_interval=min_refresh_interval, max_age=max_age, clock=clock,
        )

    def __repr__(self) -> str:
        return f"JwksCache(jwks_uri={self._jwks_uri!r}, keys={len(self._keys)})"

    @property
    def jwks_uri(self) -> str:
        return self._jwks_uri

    @property
    def algorithms(self) -> frozenset[str] | None:
        """The algorithms accepted by default for tokens checked with these keys."""
        return self._algorithms

    @property
    def fetch_count(self) -> int:
        """How many times the JWKS was requested (failed attempts included)."""
        return self._fetches

    async def keys(self) -> tuple[VerifyingKey, ...]:
        """The current keys, fetched first if there are none yet or they are too old.

        Raises:
            TransportError, InvalidResponseError: the first fetch failed.

        Cancellation: cancelling the caller never cancels a fetch other callers share.
        """
        await self._ensure_fresh()
        return self._keys

    async def key_for(self, alg: str, kid: str | None) -> VerifyingKey:
        """The key that verifies an ``alg`` signature with this ``kid`` (or no ``kid``).

        An unknown ``kid`` (or no suitable key) causes one fetch of the JWKS, unless one
        was started less than ``min_refresh_interval`` seconds ago.

        Raises:
            IdTokenError: ``unknown_key`` (no key fits, even after a refresh) or
                ``kid_ambiguous`` (several keys fit).
            TransportError, InvalidResponseError: a needed fetch failed.

        Cancellation: cancelling the caller never cancels a fetch other callers share.
        """
        await self._ensure_fresh()
        key = select_key(self._keys, alg, kid)
        if key is None and self._may_fetch():
            logger.debug("no %s key for kid %r in the JWKS; fetching it again", alg, kid)
            await self._refresh()
            key = select_key(self._keys, alg, kid)
        if key is None:
            which = "with the JWT's 'kid'" if kid is not None else "at all"
            raise IdTokenError(
                IdTokenError.UNKNOWN_KEY, f"the provider's JWKS has no {alg} key {which}"
            )
        return key

    # -- fetching -----------------------------------------------------------------------

    def _may_fetch(self) -> bool:
        """A fetch is running (join it) or the last one started long enough ago."""
        if self._flight.running or self._last_attempt is None:
            return True
        return self._clock.monotonic() - self._last_attempt >= self._min_refresh_interval

    async def _ensure_fresh(self) -> None:
        if self._fetched_at is None:
            if self._may_fetch():
                await self._refresh()
                return
            raise IdTokenError(
                IdTokenError.UNKNOWN_KEY,
                "the provider's JWKS could not be fetched; the next attempt is rate-limited",
            )
        if self._clock.monotonic() - self._fetched_at < self._max_age or not self._may_fetch():
            return
        try:
            await self._refresh()
        except (TransportError, InvalidResponseError) as exc:
            logger.warning(
                "the JWKS at %s could not be refreshed (%s); keeping the %d cached keys",
                self._jwks_uri, type(exc).__name__, len(self._keys),
            )

    async def _refresh(self) -> None:
        if not self._flight.running:
            self._last_attempt = self._clock.monotonic()
        await self._flight.run(self._fetch)

    async def _fetch(self) -> None:
        self._fetches += 1
        request = HttpRequest(method="GET", url=self._jwks_uri, headers={"Accept": _ACCEPT})
        response = await self._transport.send(request)
        keys = parse_jwks_response(response)
        self._keys = keys
        self._fetched_at = self._clock.monotonic()
        logger.debug("fetched the JWKS at %s: %d usable keys", self._jwks_uri, len(keys))
