"""A :class:`TokenKey`: what a token is for, normalised (scope, resource, extra parameters).

Two requests for the same token must map to one key, because these parameters are sets,
not lists:

- RFC 6749 §3.3: "The strings are order-independent", so scopes are sorted (and
  duplicates dropped): ``["b", "a"]`` and ``["a", "b"]`` share one token.
- RFC 8707 §2: "Multiple resource parameters MAY be used": sorted the same way.
- extra parameters (e.g. ``audience``) are sorted by name, then value.

A key shows scope and resources in ``repr`` and in :meth:`TokenKey.attributes`, but of the
extra parameters only their names (a value may be a credential), except ``audience``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from oauthflow.errors import ConfigurationError
from oauthflow.protocol.token_endpoint import Params

__all__ = ["TokenKey"]

# Extra parameters whose values name a target, not a credential, and so may appear in
# reprs and telemetry. RFC 8693 §2.1: "audience ... The logical name of the target
# service where the client intends to use the requested security token."
_PUBLIC_PARAMS = frozenset({"audience"})


@dataclass(frozen=True, slots=True)
class TokenKey:
    """What a token is for: normalised scope, resources and extra token-request parameters.

    Build one with :meth:`of`. Two keys are equal when they would request the same token.

    Attributes:
        scope: sorted, de-duplicated scope tokens; ``None`` lets the server choose (an
            empty list is the same: no ``scope`` parameter is sent).
        resource: sorted, de-duplicated RFC 8707 resource URIs.
        extra_params: sorted, de-duplicated ``(name, value)`` pairs (e.g. ``audience``).
    """

    scope: tuple[str, ...] | None = None
    resource: tuple[str, ...] = ()
    extra_params: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def of(
        cls,
        scope: Sequence[str] | None = None,
        resource: Sequence[str] = (),
        extra_params: Params = (),
    ) -> TokenKey:
        """The normalised key. A plain string for ``scope`` or ``resource`` is refused
        (``["a", "b"]``, not ``"a b"``) with :class:`ConfigurationError`."""
        scopes = None if scope is None else _string_set(scope, "scope")
        return cls(
            scope=scopes or None,
            resource=_string_set(resource, "resource"),
            extra_params=tuple(sorted(set(_pairs(extra_params)))),
        )

    def attributes(self) -> dict[str, str]:
        """The key as flat ``oauthflow.*`` strings for logs and metrics (see
        ``LoggingListener.bind`` / ``OpenTelemetryListener.bind``).

        Scope and resources are shown; of the extra parameters only the names
        (``oauthflow.params``), except ``audience`` (an identifier, not a secret), whose
        value is shown too (``oauthflow.audience``).
        """
        return {f"oauthflow.{name}": value for name, value in self._shown().items()}

    def _shown(self) -> dict[str, str]:
        shown: dict[str, str] = {}
        if self.scope is not None:
            shown["scope"] = " ".join(self.scope)
        if self.resource:
            shown["resource"] = " ".join(self.resource)
        for name, value in self.extra_params:
            if name in _PUBLIC_PARAMS:
                shown[name] = value
        hidden = sorted({name for name, _ in self.extra_params} - _PUBLIC_PARAMS)
        if hidden:
            shown["params"] = " ".join(hidden)
        return shown

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._shown().items())
        return f"TokenKey({fields})"


def _string_set(values: Sequence[str], what: str) -> tuple[str, ...]:
    """Sorted, de-duplicated strings; a plain string is refused (it would be split)."""
    if isinstance(values, str) or not all(isinstance(value, str) for value in values):
        raise ConfigurationError(f'{what} must be a sequence of strings, e.g. ["a", "b"]')
    return tuple(sorted(set(values)))


def _pairs(params: Params) -> list[tuple[str, str]]:
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2
                and all(isinstance(part, str) for part in item)):
            raise ConfigurationError("parameters must be (name, value) pairs of strings")
    return items
