"""The public API: a sorted ``__all__`` naming exactly the public members, each importable."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import oauthflow

PACKAGES = ["oauthflow", "oauthflow.loopback", "oauthflow.oidc", "oauthflow.testing"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    public = {
        member for member, value in vars(module).items()
        if not member.startswith("_") and not isinstance(value, type(importlib))
    }
    assert public - {"annotations"} == set(exported)


def test_every_exported_name_resolves() -> None:
    for name in oauthflow.__all__:
        assert getattr(oauthflow, name) is not None


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("oauthflow").joinpath("py.typed").is_file()


def test_import_oauthflow_leaves_the_jose_stack_unloaded() -> None:
    # joserfc and cryptography (about 9,000 objects and 60 ms) load when a key is first
    # used: a client with a client secret never pays for them.
    code = "import sys, oauthflow; print(sorted({'joserfc', 'cryptography'} & set(sys.modules)))"
    result = subprocess.run(  # noqa: S603 - our own interpreter and a constant program
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
