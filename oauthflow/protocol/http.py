"""The seam between the pure protocol layer and the network: plain request/response values.

``protocol`` builds an :class:`HttpRequest` and parses an :class:`HttpResponse`; only
``oauthflow.transport`` turns one into the other over aiohttp. Both values redact
themselves in ``repr``: a request's form carries client secrets and refresh tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlencode

__all__ = ["FORM_CONTENT_TYPE", "HttpRequest", "HttpResponse"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _frozen(headers: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(headers))


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class HttpRequest:
    """A request to send, as data.

    Attributes:
        method: ``"POST"`` or ``"GET"``.
        url: the absolute URL.
        headers: header names as they should be sent.
        form: ``application/x-www-form-urlencoded`` members in order; a name may repeat
            (RFC 8707 ``resource``). Empty for a request without a body.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    form: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _frozen(self.headers))

    @property
    def body(self) -> bytes:
        """The form, url-encoded as UTF-8 (``b""`` without a form)."""
        return urlencode(self.form).encode("ascii") if self.form else b""

    def form_dict(self) -> dict[str, list[str]]:
        """The form as name -> values (for tests and for servers)."""
        result: dict[str, list[str]] = {}
        for name, value in self.form:
            result.setdefault(name, []).append(value)
        return result

    def __repr__(self) -> str:
        names = [name for name, _ in self.form]
        return (
            f"HttpRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={sorted(self.headers)!r}, form_names={names!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class HttpResponse:
    """A response as received.

    Attributes:
        status: the HTTP status code.
        headers: header names lower-cased; a header sent several times is folded into one
            comma-separated value (RFC 9110 §5.3), as the transport does.
        body: the raw body, already capped by the transport.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        lowered = {name.lower(): value for name, value in self.headers.items()}
        object.__setattr__(self, "headers", _frozen(lowered))

    def header(self, name: str) -> str | None:
        """The value of a header, by case-insensitive name."""
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status}, body_bytes={len(self.body)})"
