"""Plot the refresh storm: ``python benchmarks/plot.py RESULTS.json [--out FILE.png]``.

Reads the rows ``benchmarks/run.py --json`` wrote (a JSON list of objects with at least
``scenario``, ``client``, ``n``, ``p99_ms`` and ``token_requests``) and draws two panels
for the ``storm`` scenario (N callers hitting an expired token at once):

- p99 latency of one call vs N (both axes logarithmic);
- token requests the storm caused vs N (the ideal is one per storm).

One line per client: oauthflow, the raw aiohttp floor, and each peer. A row without numbers
(a client that was killed over budget, or did not run) is left out; its ``note`` is printed
so the gap in the plot is explained. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["Skipped", "StormPoint", "main", "plot_storm", "storm_points"]

SCENARIO = "storm"
DEFAULT_OUT = Path("docs/img/benchmarks.png")

# oauthflow first and the floors next, in fixed colours; peers after them, alphabetically.
_FIRST = ("oauthflow", "raw", "raw-middleware")
_STYLE: dict[str, dict[str, Any]] = {
    "oauthflow": {"color": "#1f77b4", "linewidth": 2.6, "marker": "o", "zorder": 3},
    "raw": {"color": "#555555", "linewidth": 1.6, "marker": "s", "linestyle": "--"},
    "raw-middleware": {"color": "#999999", "linewidth": 1.4, "marker": "s", "linestyle": ":"},
}
_PEER_COLOURS = ("#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
_PEER_MARKERS = ("^", "v", "D", "P", "X", "*")
_DODGE = 0.035  # decades between neighbouring clients in the token-requests panel
_LABEL = {
    "raw": "raw aiohttp (static valid token: the floor)",
    "raw-middleware": "raw aiohttp + a middleware setting that header",
}


@dataclass(frozen=True, slots=True)
class StormPoint:
    """One client's result for one N."""

    client: str
    n: int
    p99_ms: float
    token_requests: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A storm row without numbers (e.g. a client killed over its time budget)."""

    client: str
    n: float | None
    note: str

    def __str__(self) -> str:
        where = "N=?" if self.n is None else f"N={int(self.n):,}"
        return f"{where}: {self.note}"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def storm_points(
    rows: Sequence[dict[str, Any]],
) -> tuple[dict[str, list[StormPoint]], list[Skipped]]:
    """The storm rows by client (sorted by N), and the rows left out (no numbers)."""
    points: dict[str, list[StormPoint]] = {}
    skipped: list[Skipped] = []
    for row in rows:
        if row.get("scenario") != SCENARIO:
            continue
        client = str(row.get("client"))
        n, p99, requests = (_number(row.get(key)) for key in ("n", "p99_ms", "token_requests"))
        if n is None or p99 is None or requests is None:
            skipped.append(Skipped(client, n, str(row.get("note") or "no numbers")))
            continue
        points.setdefault(client, []).append(StormPoint(client, int(n), p99, int(requests)))
    for series in points.values():
        series.sort(key=lambda point: point.n)
    return points, skipped


def _order(clients: Sequence[str]) -> list[str]:
    first = [name for name in _FIRST if name in clients]
    return first + sorted(name for name in clients if name not in _FIRST)


def _styles(clients: Sequence[str]) -> dict[str, dict[str, Any]]:
    styles: dict[str, dict[str, Any]] = {}
    peers = 0
    for name in clients:
        if name in _STYLE:
            styles[name] = _STYLE[name]
        else:
            styles[name] = {
                "color": _PEER_COLOURS[peers % len(_PEER_COLOURS)],
                "marker": _PEER_MARKERS[peers % len(_PEER_MARKERS)],
                "linewidth": 1.6,
            }
            peers += 1
    return styles


def _n_axis(axes: Axes, ns: Sequence[int]) -> None:
    axes.set_xscale("log")
    axes.set_xticks(list(ns), [f"{n:,}" for n in ns])
    axes.minorticks_off()
    axes.set_xlabel("N concurrent callers on an expired token")
    axes.grid(True, which="major", alpha=0.3)


def plot_storm(
    points: dict[str, list[StormPoint]],
    out: Path,
    *,
    title: str,
    skipped: Sequence[Skipped] = (),
) -> None:
    """Write the two-panel figure to ``out`` (PNG; parent directories are created).

    A client with ``skipped`` rows says so in its legend entry (why its line stops short).
    """
    clients = _order(list(points))
    styles = _styles(clients)
    ns = sorted({point.n for series in points.values() for point in series})
    # A bare Figure (no pyplot): no GUI backend, no global state; savefig uses Agg.
    figure = Figure(figsize=(12, 5.2), layout="constrained")
    latency, requests = figure.subplots(1, 2)
    for index, name in enumerate(clients):
        series = points[name]
        xs = [point.n for point in series]
        label = _LABEL.get(name, name)
        gaps = [str(row) for row in skipped if row.client == name]
        if gaps:
            label = f"{label} ({'; '.join(gaps)})"
        latency.plot(xs, [point.p99_ms for point in series], label=label, **styles[name])
        # Most clients make the same number of requests: shift each one's points a little
        # sideways (on the log axis) so equal values do not hide each other.
        dodge = 10 ** (_DODGE * (index - (len(clients) - 1) / 2))
        requests.plot([x * dodge for x in xs], [point.token_requests for point in series],
                      label=label, **styles[name])
    _n_axis(latency, ns)
    latency.set_yscale("log")
    latency.set_ylabel("p99 latency of one call (ms, log scale)")
    latency.set_title("Storm: p99 latency")
    _n_axis(requests, ns)
    most = max(point.token_requests for series in points.values() for point in series)
    requests.set_ylim(-0.25, max(2, most) * 1.15 + 0.25)
    requests.yaxis.set_major_locator(MaxNLocator(integer=True))
    requests.set_ylabel("token requests per storm (ideal: 1)")
    requests.set_title("Storm: token requests")
    handles, labels = latency.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3),
                  frameon=False)
    figure.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("results", type=Path, help="a JSON file written by benchmarks/run.py")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"the PNG to write (default: {DEFAULT_OUT})")
    parser.add_argument("--title", default="oauthflow vs raw aiohttp and peers: refresh storm",
                        help="the figure's title")
    args = parser.parse_args(argv)
    rows: object = json.loads(args.results.read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        print(f"{args.results}: expected a JSON list of row objects", file=sys.stderr)
        return 2
    points, skipped = storm_points(rows)
    if not points:
        print(f"{args.results}: no '{SCENARIO}' rows with numbers", file=sys.stderr)
        return 1
    for row in skipped:
        print(f"left out: {row.client} {row}", file=sys.stderr)
    plot_storm(points, args.out, title=args.title, skipped=skipped)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
