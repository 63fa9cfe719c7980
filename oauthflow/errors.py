"""The errors oauthflow raises.

One small tree. Match on the class for the *kind* of failure and on ``.error`` /
``.code`` for the detail; there is no class per RFC error code::

    OAuthFlowError                      base; never raised directly
    ├── ConfigurationError              you misused the API: fix your code (also a ValueError)
    ├── OAuthError                      the server said no with an RFC 6749 §5.2 error object:
    │   │                               .error, .error_description, .error_uri, .status
    │   ├── ReauthenticationRequiredError  the refresh token is no longer accepted
    │   │                                  (``invalid_grant`` on refresh): log the user in again
    │   └── AuthorizationResponseError  the redirect back from the authorization endpoint
    │                                   carried an error (RFC 6749 §4.1.2.1), e.g. access_denied
    ├── InvalidResponseError            the server broke the spec (not JSON, wrong types, an
    │                                   HTML 502, a redirect, an oversized body) or a redirect
    │                                   failed its checks (state / iss mismatch): .code, .status
    ├── TransportError                  the endpoint could not be reached or did not answer
    │                                   in time: .code ("timeout", "connection_failed",
    │                                   "tls_failed")
    ├── TokenUnavailableError           a TokenManager was closed, or has no way to get a token
    └── StoreConflictError              a shared token store changed between read and write

Security: no message, ``repr`` or attribute of these errors carries an access token,
refresh token, client secret, authorization code or PKCE verifier. A snippet of a
non-JSON body is kept (truncated) because it is what tells a person what went wrong;
values of fields named like secrets are never included.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACCESS_DENIED",
    "AUTHORIZATION_PENDING",
    "EXPIRED_TOKEN",
    "INVALID_CLIENT",
    "INVALID_GRANT",
    "INVALID_REQUEST",
    "INVALID_SCOPE",
    "INVALID_TARGET",
    "INVALID_TOKEN",
    "SLOW_DOWN",
    "UNAUTHORIZED_CLIENT",
    "UNSUPPORTED_GRANT_TYPE",
    "UNSUPPORTED_TOKEN_TYPE",
    "AuthorizationResponseError",
    "ConfigurationError",
    "InvalidResponseError",
    "OAuthError",
    "OAuthFlowError",
    "ReauthenticationRequiredError",
    "StoreConflictError",
    "TokenUnavailableError",
    "TransportError",
]

# RFC 6749 §5.2 error codes (and a few from RFC 6750, 8628, 8707). ``.error`` may hold
# any other string a server sends; these constants only save typing and typos.
INVALID_REQUEST: Final = "invalid_request"
INVALID_CLIENT: Final = "invalid_client"
INVALID_GRANT: Final = "invalid_grant"
UNAUTHORIZED_CLIENT: Final = "unauthorized_client"
UNSUPPORTED_GRANT_TYPE: Final = "unsupported_grant_type"
INVALID_SCOPE: Final = "invalid_scope"
INVALID_TARGET: Final = "invalid_target"  # RFC 8707 §2
INVALID_TOKEN: Final = "invalid_token"  # RFC 6750 §3.1
AUTHORIZATION_PENDING: Final = "authorization_pending"  # RFC 8628 §3.5
SLOW_DOWN: Final = "slow_down"
ACCESS_DENIED: Final = "access_denied"
EXPIRED_TOKEN: Final = "expired_token"
UNSUPPORTED_TOKEN_TYPE: Final = "unsupported_token_type"  # RFC 7009 §2.2.1


class OAuthFlowError(Exception):
    """Base class of every error oauthflow raises on purpose."""


class ConfigurationError(OAuthFlowError, ValueError):
    """The library was configured or called wrongly; nothing was sent.

    Examples: a plain ``http://`` token endpoint that is not loopback, ``private_key_jwt``
    without a key, a ``client_secret_basic`` client without a secret.
    """


class OAuthError(OAuthFlowError):
    """The server answered with an OAuth error object (RFC 6749 §5.2).

    Attributes:
        error: the ``error`` code, e.g. ``"invalid_grant"`` (compare with the constants
            of this module).
        error_description: the server's human-readable text, if any.
        error_uri: a page about the error, if the server gave one.
        status: the HTTP status of the response (a 200 that carried ``error`` counts too).
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        status: int | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status = status
        super().__init__(self._message())

    def _message(self) -> str:
        text = self.error
        if self.error_description:
            text += f": {self.error_description}"
        if self.error_uri:
            text += f" (see {self.error_uri})"
        if self.status is not None:
            text += f" [HTTP {self.status}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(error={self.error!r}, "
            f"error_description={self.error_description!r}, status={self.status!r})"
        )


class ReauthenticationRequiredError(OAuthError):
    """The refresh token was refused (``invalid_grant``): the user must log in again.

    Raised by a TokenManager renewing with a refresh token. Retrying does not help.
    """


class AuthorizationResponseError(OAuthError):
    """The authorization endpoint redirected back with an error (RFC 6749 §4.1.2.1).

    For example ``access_denied`` (the user said no) or ``login_required``. Raised only
    after the redirect's ``state`` (and ``iss``, RFC 9207) were checked, so an attacker
    cannot inject an error into someone else's login.
    """


class InvalidResponseError(OAuthFlowError):
    """The server's answer does not follow the spec, so no token could be read from it.

    Attributes:
        code: a stable string naming what was wrong (the ``*`` constants of
            :class:`InvalidResponseError`, e.g. ``"response_not_json"``).
        status: the HTTP status, when there was a response.
        body_snippet: the first bytes of a non-JSON body, decoded leniently, for the
            person reading the log. Never the body of a JSON token response.
    """

    RESPONSE_NOT_JSON: Final = "response_not_json"
    RESPONSE_NOT_OBJECT: Final = "response_not_object"
    MISSING_FIELD: Final = "missing_field"
    INVALID_FIELD_TYPE: Final = "invalid_field_type"
    INVALID_FIELD_VALUE: Final = "invalid_field_value"
    UNSUPPORTED_TOKEN_TYPE: Final = "unsupported_token_type"
    UNEXPECTED_STATUS: Final = "unexpected_status"
    REDIRECT_NOT_FOLLOWED: Final = "redirect_not_followed"
    BODY_TOO_LARGE: Final = "body_too_large"
    INVALID_CHALLENGE: Final = "invalid_challenge"
    # Checks of the redirect back to the client (RFC 6749 §10.12, RFC 9207 §2.4)
    STATE_MISSING: Final = "state_missing"
    STATE_MISMATCH: Final = "state_mismatch"
    ISS_MISSING: Final = "iss_missing"
    ISS_MISMATCH: Final = "iss_mismatch"
    CODE_MISSING: Final = "code_missing"
    # OpenID Connect (oauthflow.oidc)
    ISSUER_MISMATCH: Final = "issuer_mismatch"  # discovery document for another issuer
    SUB_MISMATCH: Final = "sub_mismatch"  # UserInfo about another user than the ID token

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        body_snippet: str | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.body_snippet = body_snippet
        text = f"{code}: {message}"
        if status is not None:
            text += f" [HTTP {status}]"
        if body_snippet:
            text += f"; body starts with {body_snippet!r}"
        super().__init__(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class TransportError(OAuthFlowError):
    """The endpoint could not be reached, or did not answer within the timeout.

    Attributes:
        code: ``"timeout"``, ``"connection_failed"`` or ``"tls_failed"`` (a certificate
            or TLS handshake failure: a configuration problem, never retried).
        url: the endpoint (never carries credentials: oauthflow sends them in the body
            or headers).

    The underlying aiohttp or timeout exception is the ``__cause__``.
    """

    TIMEOUT: Final = "timeout"
    CONNECTION_FAILED: Final = "connection_failed"
    TLS_FAILED: Final = "tls_failed"

    def __init__(self, code: str, url: str, detail: str) -> None:
        self.code = code
        self.url = url
        super().__init__(f"{code}: {url}: {detail}")


class TokenUnavailableError(OAuthFlowError):
    """A TokenManager cannot produce a token (closed, or no renewal source configured)."""


class StoreConflictError(OAuthFlowError):
    """A shared token store was written by someone else between our read and our write.

    Raised by :meth:`SharedTokenStore.save_if_unchanged`; a TokenManager handles it by
    adopting the token that was saved, so callers rarely see it.
    """
