"""The results of ``anncli scan``: the table, the Pareto front, the recommendation and the plot.

Pure functions of the table rows (dicts, one per grid point), so that the recommendation rule
can be tested on a constructed table.  The rule (also in ``anncli help scan``):

* the best point is the one with the lowest mean validation error (``recommend.metric``);
* the bound: ``tolerance`` rule: best × (1 + tolerance/100); ``one_se`` rule: the best
  point's mean + its standard error (spread over the folds / sqrt(folds));
* the recommended point is the cheapest (``recommend.cost``) point whose mean error is at
  most the bound; equal costs go to the lower error.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["pareto_front", "recommend", "write_table", "plot_scan", "METRICS", "COSTS", "Recommendation"]

#: recommend.metric -> (mean column, spread column, unit)
METRICS = {"energy": ("val_energy_rmse", "val_energy_rmse_std", "meV/atom"),
           "forces": ("val_force_rmse", "val_force_rmse_std", "meV/Å")}
#: recommend.cost -> (column, axis label, unit in sentences)
COSTS = {"parameters": ("n_parameters", "network parameters", "network parameters"),
         "predict_us": ("predict_us_per_atom", "predict time (µs/atom)", "µs/atom for predict"),
         "features": ("n_features_total", "features (all species)", "features")}


def pareto_front(costs, errors) -> np.ndarray:
    """Points no other point beats in both cost and error (lower is better in both).

    Parameters
    ----------
    costs, errors : array-like of shape (n,)
        NaN errors (failed points) are never on the front.

    Returns
    -------
    ndarray of shape (n,), bool
    """
    c = np.asarray(costs, dtype=float)
    e = np.asarray(errors, dtype=float)
    ok = np.isfinite(c) & np.isfinite(e)
    front = np.zeros(len(c), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (c <= c[i]) & (e <= e[i]) & ((c < c[i]) | (e < e[i]))
        front[i] = not dominated.any()
    return front


class Recommendation:
    """The chosen point and why.

    Attributes
    ----------
    index : int
        Row of the table.
    best : int
        Row with the lowest error.
    bound : float
        Error bound of the rule.
    rule : str
    reason : str
        One paragraph in plain words.
    """

    def __init__(self, index: int, best: int, bound: float, rule: str, reason: str) -> None:
        self.index, self.best, self.bound, self.rule, self.reason = index, best, bound, rule, reason


def recommend(rows: list[dict], *, metric: str = "energy", cost: str = "parameters", rule: str = "tolerance",
              tolerance: float = 10.0, folds: int = 1) -> Recommendation | None:
    """Apply the recommendation rule (module docstring) to the table.

    Parameters
    ----------
    rows : list of dict
        Table rows with ``point``, the metric's mean and spread columns and the cost column.
    metric : {"energy", "forces"}
    cost : {"parameters", "predict_us", "features"}
    rule : {"tolerance", "one_se"}
    tolerance : float
        Percent (rule tolerance).
    folds : int
        Folds behind each mean (the standard error is spread / sqrt(folds)).

    Returns
    -------
    Recommendation or None
        None when no point has a finite error.
    """
    mean_col, std_col, unit = METRICS[metric]
    cost_col, _, cost_label = COSTS[cost]
    err = np.array([_num(r.get(mean_col)) for r in rows])
    cst = np.array([_num(r.get(cost_col)) for r in rows])
    ok = np.isfinite(err) & np.isfinite(cst)
    if not ok.any():
        return None
    best = int(np.flatnonzero(ok)[np.argmin(err[ok])])
    if rule == "one_se":
        se = _num(rows[best].get(std_col)) / math.sqrt(folds)
        se = 0.0 if not math.isfinite(se) else se
        bound = err[best] + se
        how = f"within one standard error ({se:.3g} {unit}, the spread over {folds} folds / sqrt({folds})) of"
    else:
        bound = err[best] * (1.0 + tolerance / 100.0)
        how = f"within {tolerance:g} % of"
    good = np.flatnonzero(ok & (err <= bound * (1 + 1e-12)))
    pick = int(min(good, key=lambda i: (cst[i], err[i], i)))
    name, best_name = rows[pick]["point"], rows[best]["point"]
    what = {"energy": "validation energy RMSE", "forces": "validation force RMSE"}[metric]
    spread = ""
    if folds > 1 and math.isfinite(_num(rows[pick].get(std_col))):
        spread = f" ± {_num(rows[pick].get(std_col)):.3g}"
    head = f"Recommended: {name} ({rows[pick].get('settings', '')})."
    if pick == best:
        text = (f"{head} It has the lowest {what}, {err[pick]:.4g}{spread} {unit}, and no cheaper point "
                f"(by {cost.replace('_us', ' time')}) is {how} it (bound {bound:.4g} {unit}).")
    else:
        text = (f"{head} Its {what} is {err[pick]:.4g}{spread} {unit}, {how} the best point ({best_name}, "
                f"{err[best]:.4g} {unit}; bound {bound:.4g} {unit}), and it is the cheapest of the {len(good)} "
                f"points within that bound: {_fmt(cst[pick])} {cost_label} against {_fmt(cst[best])} for the best "
                "point.")
    return Recommendation(pick, best, float(bound), rule, text)


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.3g}"


def write_table(path: Path, rows: list[dict], columns: list[str]) -> None:
    """``scan.csv``: one row per point (atomic write; empty cells for missing values)."""
    from anncli.io.atomic import atomic_open

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None or (isinstance(r.get(c), float) and math.isnan(r[c]))
                    else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in columns])
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(buf.getvalue())


def plot_scan(path: Path, rows: list[dict], *, metric: str, cost: str, folds: int,
              chosen: Recommendation | None) -> None:
    """``scan.png``: validation error against cost, points labelled, Pareto front marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from anncli.io.atomic import atomic_path

    mean_col, std_col, unit = METRICS[metric]
    cost_col, cost_label, _ = COSTS[cost]
    err = np.array([_num(r.get(mean_col)) for r in rows])
    cst = np.array([_num(r.get(cost_col)) for r in rows])
    ok = np.isfinite(err) & np.isfinite(cst)
    fig = Figure(figsize=(7, 5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    yerr = np.array([_num(r.get(std_col)) for r in rows]) if folds > 1 else None
    ax.errorbar(cst[ok], err[ok], yerr=None if yerr is None else np.nan_to_num(yerr[ok]), fmt="o", color="C0",
                ecolor="0.6", capsize=3, label="grid points" + (f" (mean ± spread, {folds} folds)" if folds > 1 else ""))
    front = pareto_front(cst, err)
    order = np.flatnonzero(front)[np.argsort(cst[front])]
    if len(order):
        ax.plot(cst[order], err[order], "-", color="C1", marker="s", mfc="none", ms=10, label="Pareto front")
    if chosen is not None:
        ax.plot([cst[chosen.index]], [err[chosen.index]], "*", color="C3", ms=16, label="recommended")
        ax.axhline(chosen.bound, color="C3", ls=":", lw=1, label=f"bound of rule {chosen.rule}")
    for i in np.flatnonzero(ok):
        ax.annotate(rows[i]["point"], (cst[i], err[i]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if ok.any() and cst[ok].max() > 3 * cst[ok].min() > 0:
        ax.set_xscale("log")
    ax.set_xlabel(cost_label)
    ax.set_ylabel(f"validation {'energy' if metric == 'energy' else 'force'} RMSE ({unit})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
