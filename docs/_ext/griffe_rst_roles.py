"""A griffe extension: render the reStructuredText bits of oauthflow's docstrings as Markdown.

The library's docstrings are Google style but name objects with Sphinx roles
(``:class:`~oauthflow.clock.ManualClock```) and end a paragraph with ``::`` before a
literal block. mkdocstrings renders Markdown, where both would show up verbatim. This
extension rewrites them when griffe loads a docstring, before it is parsed:

- ``:role:`~a.b.Name``` -> ```Name``` and ``:role:`a.b.Name``` -> ```a.b.Name```;
- a line ending in ``::`` -> ``:`` (the indented block after it is already a Markdown
  code block); a line that is only ``::`` is dropped.

The library's source is not changed. Used by mkdocs.yml (``extensions:``).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

__all__ = ["RstRoles", "to_markdown"]

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(?m)^([ \t]*)::[ \t]*$\n?|(?<=\S)::[ \t]*$")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _literal(match: re.Match[str]) -> str:
    return "" if match.group(1) is not None else ":"  # a line of its own, or a line's end


def to_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx roles and ``::`` markers turned into Markdown."""
    return _LITERAL.sub(_literal, _ROLE.sub(_role, text))


class RstRoles(Extension):
    """Rewrites every docstring as it is loaded (see the module docstring)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None:
            docstring.value = to_markdown(docstring.value)
