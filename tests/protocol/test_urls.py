"""Unit tests of oauthflow.protocol.urls: loopback hosts, the HTTPS rule, origins."""

from __future__ import annotations

import pytest

from oauthflow.errors import ConfigurationError
from oauthflow.protocol.urls import is_loopback_host, origin_of, require_secure_url

LOOPBACK_CASES = [
    ("127.0.0.1", True),
    ("127.255.255.254", True),
    ("::1", True),
    ("[::1]", True),
    ("localhost", True),
    ("LocalHost", True),
    ("::ffff:127.0.0.1", True),
    ("128.0.0.1", False),
    ("10.0.0.1", False),
    ("0.0.0.0", False),  # noqa: S104 - a host name, not a bind address
    ("::2", False),
    ("[::1", False),
    ("example.com", False),
    ("app.localhost", False),
    ("localhost.example.com", False),
    ("127.0.0.1.example.com", False),
    ("", False),
]


@pytest.mark.parametrize(
    ("host", "expected"), LOOPBACK_CASES, ids=[repr(host) for host, _ in LOOPBACK_CASES]
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


SECURE_OK = [
    ("https://as.example.com/token", False),
    ("HTTPS://AS.EXAMPLE.COM/token", False),
    ("http://127.0.0.1:8080/token", False),
    ("http://[::1]:8080/token", False),
    ("http://localhost/token", False),
    ("http://as.example.com/token", True),
]


@pytest.mark.parametrize(
    ("url", "allow_insecure_http"),
    SECURE_OK,
    ids=["https", "https-upper-case", "http-127", "http-ipv6-loopback", "http-localhost",
         "http-opt-out"],
)
def test_require_secure_url_accepts(url: str, allow_insecure_http: bool) -> None:
    require_secure_url(url, what="token_endpoint", allow_insecure_http=allow_insecure_http)


SECURE_REFUSED = [
    ("http://as.example.com/token", "must use https"),
    ("http://localhost.example.com/token", "must use https"),
    ("ftp://as.example.com/token", "must be an https URL"),
    ("/token", "absolute URL"),
    ("https:///token", "absolute URL"),
    ("https://as.example.com:99999/token", "not a valid URL"),
    ("http://[::1/token", "not a valid URL"),
]


@pytest.mark.parametrize(
    ("url", "message"),
    SECURE_REFUSED,
    ids=["http-remote", "http-localhost-lookalike", "ftp", "relative", "no-host", "bad-port",
         "bad-ipv6"],
)
def test_require_secure_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        require_secure_url(url, what="token_endpoint")
    assert message in str(caught.value)
    assert str(caught.value).startswith("token_endpoint ")


def test_require_secure_url_never_echoes_userinfo_or_query() -> None:
    url = "http://alice:pa55word@as.example.com/token?code=c0de-value"
    with pytest.raises(ConfigurationError) as caught:
        require_secure_url(url, what="token_endpoint")
    text = f"{caught.value} {caught.value!r}"
    assert "as.example.com" in text
    for secret in ("alice", "pa55word", "c0de-value", "/token"):
        assert secret not in text


def test_opt_out_does_not_allow_other_schemes() -> None:
    with pytest.raises(ConfigurationError):
        require_secure_url("ws://as.example.com/", what="endpoint", allow_insecure_http=True)


ORIGINS = [
    ("https://API.Example.com/v1/x?y=1#f", "https://api.example.com:443"),
    ("https://api.example.com:443", "https://api.example.com:443"),
    ("http://127.0.0.1/x", "http://127.0.0.1:80"),
    ("HTTP://LOCALHOST:8080/", "http://localhost:8080"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
    ("https://user:pw@api.example.com/", "https://api.example.com:443"),
    ("https://bücher.example/", "https://xn--bcher-kva.example:443"),
    ("wss://stream.example.com/", "wss://stream.example.com:443"),
    ("ws://stream.example.com/", "ws://stream.example.com:80"),
    ("custom://host:9000/", "custom://host:9000"),
]


@pytest.mark.parametrize(
    ("url", "origin"),
    ORIGINS,
    ids=["lower-case-default-port", "explicit-default-port", "http-default-port",
         "upper-case-scheme", "ipv6", "userinfo-dropped", "idna", "wss", "ws",
         "explicit-port-any-scheme"],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_origin_of_distinguishes_port_and_scheme() -> None:
    assert origin_of("https://a.example") != origin_of("https://a.example:8443")
    assert origin_of("https://a.example") != origin_of("http://a.example")


@pytest.mark.parametrize(
    "url",
    ["/relative/path", "mailto:someone@example.com", "custom://host/", "https://h:abc/", ""],
    ids=["relative", "no-host", "no-default-port", "bad-port", "empty"],
)
def test_origin_of_refuses(url: str) -> None:
    with pytest.raises(ConfigurationError):
        origin_of(url)
