"""The request shared by revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1).

Both endpoints take the same form: the ``token``, an optional ``token_type_hint``, and
the client's credentials "as described in Section 2.3. of [RFC6749]", sent as a
form-encoded POST.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, get_args

from oauthflow.config import ClientConfig
from oauthflow.errors import ConfigurationError
from oauthflow.protocol.client_auth import build_client_auth
from oauthflow.protocol.http import FORM_CONTENT_TYPE, HttpRequest

__all__ = ["TokenTypeHint", "build_token_post"]

# RFC 7009 §2.1 / RFC 7662 §2.1 and the "OAuth Token Type Hints" registry (RFC 7009 §4.1.2).
TokenTypeHint: TypeAlias = Literal["access_token", "refresh_token"]
_HINTS: Final = frozenset(get_args(TokenTypeHint))


def build_token_post(
    endpoint: str,
    client: ClientConfig,
    token: str,
    *,
    token_type_hint: TokenTypeHint | None,
    now: float,
    assertion_audience: str | None,
) -> HttpRequest:
    """A form POST of ``token`` (and its hint) to ``endpoint``, with client authentication.

    Raises:
        ConfigurationError: an empty token, an unknown hint, or client credentials that
            cannot be built (see :func:`oauthflow.protocol.client_auth.build_client_auth`).
    """
    if not isinstance(token, str) or not token:
        raise ConfigurationError("token must be a non-empty string")
    if token_type_hint is not None and token_type_hint not in _HINTS:
        raise ConfigurationError(
            "token_type_hint must be 'access_token', 'refresh_token' or None"
        )
    auth = build_client_auth(client, audience=assertion_audience or endpoint, now=now)
    form: list[tuple[str, str]] = [("token", token)]
    if token_type_hint is not None:
        form.append(("token_type_hint", token_type_hint))
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
    headers.update(auth.headers)
    return HttpRequest(method="POST", url=endpoint, headers=headers, form=(*form, *auth.form))
