"""Unit tests of oauthflow.protocol.pkce (RFC 7636 §4.1, §4.2, Appendix B)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthflow.errors import ConfigurationError
from oauthflow.protocol.pkce import (
    S256,
    code_challenge_s256,
    generate_code_verifier,
    is_valid_code_verifier,
)

# RFC 7636 Appendix B.
APPENDIX_B_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
APPENDIX_B_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")


def test_appendix_b_vector() -> None:
    assert code_challenge_s256(APPENDIX_B_VERIFIER) == APPENDIX_B_CHALLENGE
    assert S256 == "S256"


def test_generated_verifiers_are_long_unreserved_and_fresh() -> None:
    verifiers = {generate_code_verifier() for _ in range(200)}
    assert len(verifiers) == 200
    for verifier in verifiers:
        assert len(verifier) == 86  # 64 random octets, base64url without padding
        assert UNRESERVED.fullmatch(verifier)
        assert is_valid_code_verifier(verifier)


@pytest.mark.parametrize(
    ("verifier", "valid"),
    [
        ("a" * 43, True),
        ("a" * 128, True),
        ("A-Z.a_z~0" * 5, True),
        ("a" * 42, False),
        ("a" * 129, False),
        ("a" * 42 + "+", False),
        ("a" * 42 + "/", False),
        ("a" * 42 + "=", False),
        ("a" * 42 + " ", False),
        ("a" * 42 + "é", False),
        ("", False),
    ],
    ids=["43", "128", "all-classes", "42", "129", "plus", "slash", "padding", "space",
         "non-ascii", "empty"],
)
def test_verifier_syntax(verifier: str, valid: bool) -> None:
    assert is_valid_code_verifier(verifier) is valid
    if valid:
        assert code_challenge_s256(verifier)
    else:
        with pytest.raises(ConfigurationError) as raised:
            code_challenge_s256(verifier)
        assert "RFC 7636" in str(raised.value)
        if verifier:
            assert verifier not in str(raised.value)


def test_non_strings_are_not_verifiers() -> None:
    assert not is_valid_code_verifier(None)
    assert not is_valid_code_verifier(b"a" * 43)


@given(st.text(alphabet="ABCxyz0189-._~", min_size=43, max_size=128))
def test_challenge_is_base64url_sha256_without_padding(verifier: str) -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    challenge = code_challenge_s256(verifier)
    assert challenge == expected.decode().rstrip("=")
    assert len(challenge) == 43
