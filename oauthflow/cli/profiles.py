"""Named login profiles: ``$OAUTHFLOW_HOME/profiles.json`` and where each profile's token is.

A profile is what ``oauthflow login`` learnt and later commands need: the issuer, the client
id, the scopes, the endpoints found by discovery, and where the token is stored. Never a
secret: a confidential client's secret is read from ``--client-secret`` or
``OAUTHFLOW_CLIENT_SECRET`` on every command, and the token lives in its own store:

- ``file`` (default): ``$OAUTHFLOW_HOME/tokens/<profile>.json``, a
  :class:`~oauthflow.store.file.FileTokenStore` (mode 0600, atomic writes, one renewal
  across processes);
- ``keyring``: the operating system's keyring, service ``oauthflow``, user ``<profile>``
  (:class:`~oauthflow.store.keyring.KeyringTokenStore`, needs the ``keyring`` package).

``$OAUTHFLOW_HOME`` defaults to ``~/.config/oauthflow``; it is created with mode 0700, and
``profiles.json`` is written atomically with mode 0600 under a lock file, so two logins at
once cannot lose each other's profile.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeAlias, get_args

from oauthflow.cli.exit_codes import CliError, ExitCode
from oauthflow.config import ClientAuthMethod
from oauthflow.store import private_files
from oauthflow.store.file import FileTokenStore
from oauthflow.stores import TokenStore

__all__ = [
    "KEYRING_SERVICE",
    "Profile",
    "ProfileError",
    "ProfileStore",
    "StoreKind",
    "check_name",
    "delete_profile",
    "home_directory",
    "load_profile",
    "load_profiles",
    "save_profile",
    "token_store",
]

StoreKind: TypeAlias = Literal["file", "keyring"]

KEYRING_SERVICE: Final = "oauthflow"
_FORMAT: Final = 1
_FILE: Final = "profiles.json"
_LOCK_TIMEOUT: Final = 10.0
_MAX_BYTES: Final = 1024 * 1024
# A profile name becomes a file name: letters, digits, '.', '_', '-' (not starting with '.').
_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_CLIENT_METHODS: Final = ("none", "client_secret_basic", "client_secret_post")


class ProfileStore(TokenStore, Protocol):
    """A token store a logout can empty (both the file and the keyring store can)."""

    async def clear(self) -> None:
        """Delete the stored token (nothing happens when there is none)."""
        ...


class ProfileError(CliError):
    """``profiles.json`` or a profile in it cannot be used (the message says why and what to do).

    Exit code 1, or 2 (usage) for an invalid profile name.
    """

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(exit_code, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One login: the provider, the client, and where its token is stored.

    Attributes:
        name: the profile's name (``--profile``).
        issuer: the provider's issuer URL.
        client_id: the client the token was issued to.
        auth_method: how the client authenticates at the token endpoint (``none`` for a
            public client; otherwise the secret comes from ``--client-secret`` each time).
        scope: the scopes asked for at login.
        resource: RFC 8707 resource indicators asked for at login (and at each refresh).
        token_endpoint: from discovery, so ``oauthflow token`` needs no discovery request.
        revocation_endpoint: from discovery, for ``oauthflow logout`` (``None``: the provider
            has none).
        store: ``file`` or ``keyring``.
        insecure_http: the login was made with ``--insecure-http``.
    """

    name: str
    issuer: str
    client_id: str
    auth_method: ClientAuthMethod = "none"
    scope: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    token_endpoint: str
    revocation_endpoint: str | None = None
    store: StoreKind = "file"
    insecure_http: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def confidential(self) -> bool:
        """Whether the client needs its secret (``--client-secret``) at the token endpoint."""
        return self.auth_method != "none"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("name")
        data.pop("extra")
        data["scope"] = list(self.scope)
        data["resource"] = list(self.resource)
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Profile:
        """Read a profile entry (unknown members are kept, for newer versions' fields)."""
        try:
            auth_method = data.get("auth_method", "none")
            store = data.get("store", "file")
            if auth_method not in _CLIENT_METHODS or store not in get_args(StoreKind):
                raise TypeError("auth_method or store")
            profile = cls(
                name=name,
                issuer=_text(data["issuer"]),
                client_id=_text(data["client_id"]),
                auth_method=auth_method,
                scope=_texts(data.get("scope", [])),
                resource=_texts(data.get("resource", [])),
                token_endpoint=_text(data["token_endpoint"]),
                revocation_endpoint=_optional_text(data.get("revocation_endpoint")),
                store=store,
                insecure_http=data.get("insecure_http", False) is True,
                extra={k: v for k, v in data.items() if k not in _KNOWN},
            )
        except (KeyError, TypeError) as exc:
            raise ProfileError(
                f"profile {name!r} in {_FILE} is damaged ({exc}); "
                f"run `oauthflow logout --profile {name} --no-revoke` and log in again"
            ) from None
        return profile


_KNOWN: Final = frozenset({
    "issuer", "client_id", "auth_method", "scope", "resource", "token_endpoint",
    "revocation_endpoint", "store", "insecure_http",
})


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("expected a list of strings")
    return tuple(_text(item) for item in value)


def check_name(name: str) -> str:
    """``name`` if it can name a profile (and a token file), else :class:`ProfileError`."""
    if not _NAME.fullmatch(name):
        raise ProfileError(
            f"invalid profile name {name!r}: use up to 64 letters, digits, '.', '_' or '-'",
            ExitCode.USAGE,
        )
    return name


def home_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``$OAUTHFLOW_HOME``, else ``~/.config/oauthflow`` (not created here)."""
    env = os.environ if environ is None else environ
    configured = env.get("OAUTHFLOW_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "oauthflow"


def _ensure_directory(path: Path) -> Path:
    """Create ``path`` (mode 0700: only this user may list the logins) if it is missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def load_profiles(home: Path) -> dict[str, Profile]:
    """Every profile in ``home/profiles.json`` (none if the file does not exist)."""
    raw = private_files.read_private(home / _FILE, _MAX_BYTES)
    if raw is None:
        return {}
    return _decode(raw, home / _FILE)


def load_profile(home: Path, name: str) -> Profile | None:
    """The profile called ``name``, or ``None``."""
    return load_profiles(home).get(check_name(name))


def save_profile(home: Path, profile: Profile) -> None:
    """Add or replace ``profile`` in ``profiles.json`` (atomically, mode 0600, under a lock)."""
    check_name(profile.name)
    _update(home, lambda profiles: {**profiles, profile.name: profile})


def delete_profile(home: Path, name: str) -> bool:
    """Remove the profile called ``name``; whether it existed."""
    check_name(name)
    existed = False

    def without(profiles: dict[str, Profile]) -> dict[str, Profile]:
        nonlocal existed
        existed = name in profiles
        return {key: value for key, value in profiles.items() if key != name}

    _update(home, without)
    return existed


def token_store(home: Path, profile: Profile) -> ProfileStore:
    """Where ``profile``'s token is kept (see the module docstring)."""
    if profile.store == "keyring":
        try:
            from oauthflow.store.keyring import KeyringTokenStore
        except ModuleNotFoundError as exc:
            raise ProfileError(
                f"--store keyring needs the 'keyring' package ({exc.name} is missing): "
                "pip install keyring, or use --store file"
            ) from None
        return KeyringTokenStore(KEYRING_SERVICE, profile.name)
    _ensure_directory(home)
    return FileTokenStore(_ensure_directory(home / "tokens") / f"{profile.name}.json")


def _update(home: Path, change: Callable[[dict[str, Profile]], dict[str, Profile]]) -> None:
    path = _ensure_directory(home) / _FILE
    with private_files.locked(path.with_name(_FILE + ".lock"), _LOCK_TIMEOUT):
        raw = private_files.read_private(path, _MAX_BYTES)
        profiles = {} if raw is None else _decode(raw, path)
        updated = change(profiles)
        document = {
            "oauthflow_profiles": _FORMAT,
            "profiles": {name: updated[name].to_json() for name in sorted(updated)},
        }
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        private_files.write_atomically(path, text.encode("utf-8"))


def _decode(raw: bytes, path: Path) -> dict[str, Profile]:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        document = None
    if (not isinstance(document, dict) or document.get("oauthflow_profiles") != _FORMAT
            or not isinstance(document.get("profiles"), dict)):
        raise ProfileError(f"{path} is not an oauthflow profiles file; move it away to start over")
    return {
        name: Profile.from_json(name, data)
        for name, data in document["profiles"].items()
        if isinstance(name, str) and isinstance(data, dict) and _NAME.fullmatch(name)
    }
