"""The claim checks (pure): leeway boundaries, types, and the IdTokenClaims value."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from oauthflow.oidc import IdTokenClaims, IdTokenError
from oauthflow.oidc.claims import ClaimChecks, check_id_token_claims

NOW = 1_700_000_000.0
ISSUER = "https://op.example"


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER, "sub": "248289761001", "aud": "rp", "exp": NOW + 300, "iat": NOW,
        "nonce": "n-0S6_WzA2Mj", "auth_time": NOW - 10,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not ...}


def checks(**changes: Any) -> ClaimChecks:
    values: dict[str, Any] = {
        "issuer": ISSUER, "client_id": "rp", "nonce": "n-0S6_WzA2Mj", "now": NOW, "leeway": 60,
    }
    values.update(changes)
    return ClaimChecks(**values)


def code_of(token_claims: dict[str, Any], rules: ClaimChecks) -> str | None:
    try:
        check_id_token_claims(token_claims, rules)
    except IdTokenError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("exp", "leeway", "code"),
    [(NOW - 59, 60, None), (NOW - 60, 60, IdTokenError.EXPIRED), (NOW + 1, 0, None),
     (NOW, 0, IdTokenError.EXPIRED), (NOW - 0.5, 1, None)],
)
def test_exp_boundary(exp: float, leeway: float, code: str | None) -> None:
    assert code_of(claims(exp=exp), checks(leeway=leeway)) == code


@pytest.mark.parametrize(
    ("iat", "code"),
    [(NOW + 60, None), (NOW + 60.5, IdTokenError.IAT_IN_FUTURE), (NOW - 86400, None)],
)
def test_iat_boundary(iat: float, code: str | None) -> None:
    assert code_of(claims(iat=iat), checks()) == code


@pytest.mark.parametrize(
    ("auth_time", "code"),
    [(NOW - 360, None), (NOW - 361, IdTokenError.AUTH_TIME_TOO_OLD),
     (..., IdTokenError.AUTH_TIME_MISSING)],
)
def test_auth_time_with_max_age(auth_time: Any, code: str | None) -> None:
    assert code_of(claims(auth_time=auth_time), checks(max_age=300)) == code


def test_auth_time_is_not_required_without_max_age() -> None:
    assert code_of(claims(auth_time=...), checks()) is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"iss": ...}, IdTokenError.MALFORMED),
        ({"iss": 1}, IdTokenError.MALFORMED),
        ({"sub": ""}, IdTokenError.MALFORMED),
        ({"aud": ...}, IdTokenError.MALFORMED),
        ({"aud": ["rp", 1]}, IdTokenError.MALFORMED),
        ({"aud": ""}, IdTokenError.MALFORMED),
        ({"exp": float("inf")}, IdTokenError.MALFORMED),
        ({"exp": False}, IdTokenError.MALFORMED),
        ({"iat": ...}, IdTokenError.MALFORMED),
        ({"nonce": 5}, IdTokenError.MALFORMED),
        ({"azp": ["rp"]}, IdTokenError.MALFORMED),
        ({"amr": "pwd"}, IdTokenError.MALFORMED),
        ({"at_hash": 1}, None),  # not checked without an access token
        ({"iss": ISSUER.upper()}, IdTokenError.ISS_MISMATCH),
        ({"aud": ["RP"]}, IdTokenError.AUD_MISMATCH),
        ({"aud": ["rp", "rp2"], "azp": "rp"}, None),
        ({"aud": ["rp"], "azp": "rp2"}, IdTokenError.AZP_MISMATCH),
        ({"nonce": "n-0S6_WzA2Mk"}, IdTokenError.NONCE_MISMATCH),
        ({"nonce": "n-0S6_WzA2Mj "}, IdTokenError.NONCE_MISMATCH),
    ],
)
def test_claim_rules(changes: dict[str, Any], code: str | None) -> None:
    assert code_of(claims(**changes), checks()) == code


def test_at_hash_of_wrong_type_with_an_access_token_is_malformed() -> None:
    assert code_of(claims(at_hash=1), checks(expected_at_hash="abc")) == IdTokenError.MALFORMED


def test_issuer_is_checked_before_audience_and_time() -> None:
    bad = claims(iss="https://evil.example", aud="other", exp=NOW - 3600)
    assert code_of(bad, checks()) == IdTokenError.ISS_MISMATCH


def test_claims_value_is_immutable_and_discreet() -> None:
    result = check_id_token_claims(
        claims(aud=["rp"], amr=["pwd", "otp"], acr="loa2", email="a@example.test"), checks()
    )
    assert (result.aud, result.amr, result.acr, result.azp) == (("rp",), ("pwd", "otp"), "loa2",
                                                                None)
    assert result.get("email") == "a@example.test"
    assert result.get("missing", 7) == 7
    assert "a@example.test" not in repr(result)
    assert str(result) == repr(result) == "IdTokenClaims(sub='248289761001', iss='https://op.example')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.sub = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.claims["sub"] = "x"  # type: ignore[index]


def test_claims_value_copies_its_input() -> None:
    source = {"sub": "a"}
    value = IdTokenClaims(sub="a", iss=ISSUER, aud=("rp",), exp=NOW, iat=NOW, claims=source)
    source["sub"] = "b"
    assert value.claims["sub"] == "a"
