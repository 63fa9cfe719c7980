"""Token stores that outlive a process: a file, Redis, the OS keyring.

Each lives in its own module, so importing one never imports another's optional
dependency::

    from oauthflow.store.file import FileTokenStore        # no extra; POSIX (fcntl)
    from oauthflow.store.redis import RedisTokenStore      # extra "redis"
    from oauthflow.store.keyring import KeyringTokenStore  # extra "keyring"

:class:`~oauthflow.store.file.FileTokenStore` and
:class:`~oauthflow.store.redis.RedisTokenStore` implement
:class:`~oauthflow.stores.SharedTokenStore` (versioned reads, compare-and-swap saves, a
renewal lock), so a fleet of processes renews once per expiry.
:class:`~oauthflow.store.keyring.KeyringTokenStore` is a plain
:class:`~oauthflow.stores.TokenStore` for one user's CLI login. See docs/fleets.md.
"""

from __future__ import annotations

__all__: list[str] = []
