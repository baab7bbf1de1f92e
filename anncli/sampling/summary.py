"""What ``anncli sample`` made: counts per kind (text table, JSON), every candidate (CSV), a picture.

Plain functions of the candidates' provenance (``atoms.info``) and the selection; nothing
here draws random numbers, so the files are byte-for-byte reproducible (the PNG is written
without the date and software metadata matplotlib adds by default).
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["CANDIDATE_COLUMNS", "count_table", "counts_by_kind", "candidates_csv", "selection_png"]

#: Columns of summary.csv: every generated candidate (also the dropped ones), in pool order.
CANDIDATE_COLUMNS = ["index", "kind", "parent", "parent_name", "copy", "detail", "formula", "n_atoms",
                     "min_distance", "status", "selected_rank"]


def counts_by_kind(kinds_generated: Sequence[str], kinds_dropped: Sequence[str], kinds_pool: Sequence[str],
                   kinds_selected: Sequence[str], order: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{kind: {generated, dropped, candidates, selected}}`` for every kind that occurs, in ``order``."""
    out: dict[str, dict[str, int]] = {}
    for kind in order:
        row = {"generated": list(kinds_generated).count(kind), "dropped": list(kinds_dropped).count(kind),
               "candidates": list(kinds_pool).count(kind), "selected": list(kinds_selected).count(kind)}
        if row["generated"]:
            out[kind] = row
    return out


def count_table(counts: dict[str, dict[str, int]]) -> str:
    """The counts as an aligned text table with a total row."""
    cols = ["generated", "dropped", "candidates", "selected"]
    rows = [[k] + [str(v[c]) for c in cols] for k, v in counts.items()]
    rows.append(["total"] + [str(sum(v[c] for v in counts.values())) for c in cols])
    header = ["kind"] + cols
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i])  # noqa: E731
                              for i in range(len(r)))
    lines = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    return "\n".join(lines)


def candidates_csv(rows: list[dict]) -> str:
    """summary.csv: one row per candidate, columns :data:`CANDIDATE_COLUMNS`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CANDIDATE_COLUMNS)
    for r in rows:
        w.writerow([f"{r[c]:.6g}" if isinstance(r[c], float) else r[c] for c in CANDIDATE_COLUMNS])
    return buf.getvalue()


def selection_png(xy: np.ndarray, kinds: Sequence[str], selected: Sequence[int], order: Sequence[str],
                  covering: tuple[float, float] | None = None) -> bytes:
    """The pool in the plane of two principal components: grey dots, the selection coloured by kind.

    Parameters
    ----------
    xy : ndarray of shape (n_candidates, 2)
    kinds : sequence of str
        Kind of every candidate.
    selected : sequence of int
        Indices of the selected candidates.
    order : sequence of str
        Kinds in legend order.
    covering : (float, float), optional
        Covering radius of the selection and of random selections, shown in the title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = np.asarray(kinds)
    sel = np.zeros(len(kinds), dtype=bool)
    sel[np.asarray(selected, dtype=np.int64)] = True
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    ax.scatter(xy[~sel, 0], xy[~sel, 1], s=8, c="0.75", label="not selected", linewidths=0)
    cmap = plt.get_cmap("tab10")
    for k, kind in enumerate(order):
        m = sel & (kinds == kind)
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=22, color=cmap(k % 10), label=f"{kind} ({int(m.sum())})",
                       edgecolors="k", linewidths=0.3)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    title = f"{int(sel.sum())} of {len(kinds)} candidates selected"
    if covering is not None:
        title += f"\ncovering radius {covering[0]:.3g} (random: {covering[1]:.3g})"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
