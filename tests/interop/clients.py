"""oauthflow ClientConfig values for the clients registered in the interop provider."""

from __future__ import annotations

from typing import get_args

from joserfc.jwk import ECKey

from oauthflow import ClientAuthMethod, ClientConfig

from .provider_process import RegisteredClient

__all__ = ["config_for"]

_METHODS: frozenset[str] = frozenset(get_args(ClientAuthMethod))


def config_for(client: RegisteredClient) -> ClientConfig:
    """The ClientConfig that authenticates as ``client`` (its secret or its private key)."""
    assert client.auth_method in _METHODS, client.auth_method
    key = None if client.private_jwk is None else ECKey.import_key(dict(client.private_jwk))
    return ClientConfig(
        client_id=client.client_id, client_secret=client.client_secret,
        auth_method=client.auth_method,  # type: ignore[arg-type]  # checked above
        private_key=key, redirect_uri=client.redirect_uri,
    )
