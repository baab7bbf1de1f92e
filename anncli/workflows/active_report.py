"""The report of ``anncli active``: report.json, report.md and progress.png in output_dir.

Built from the iteration records (``iter_<k>/state.json``, see :mod:`anncli.workflows.active`)
and rewritten after every iteration, each file atomically.  progress.png shows, per
iteration, the test errors (energy, and forces where the test set has them) and the size of
the training set.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["write_report", "summary_line", "progress_png"]


def _fmt(x, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def summary_line(r: dict) -> str:
    """One line per iteration for the terminal."""
    test = r.get("test") or {}
    sel = r.get("select") or {}
    md = r.get("md") or {}
    return (f"iteration {r['iteration']}: {r.get('n_trainset', '-')} training structures (+{r.get('n_new', 0)}), "
            f"test energy RMSE {_fmt(test.get('energy_rmse_meV_atom'))} meV/atom, "
            f"force RMSE {_fmt(test.get('force_rmse'))} eV/Å; MD {md.get('n_failed', 0)} of "
            f"{len(md.get('runs', []))} runs failed; {sel.get('n_selected', 0)} of {sel.get('n_candidates', 0)} "
            f"candidates selected" + (f"; stop: {r['stop']}" if r.get("stop") else ""))


def progress_png(records: list[dict]) -> bytes:
    """Test errors and training-set size per iteration (PNG bytes)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    its = [r["iteration"] for r in records if "n_trainset" in r]
    rs = [r for r in records if "n_trainset" in r]
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax, axn = fig.subplots(1, 2)
    e = [(r.get("test") or {}).get("energy_rmse_meV_atom") for r in rs]
    val = [(r.get("train") or {}).get("val_rmse_meV") for r in rs]
    if any(v is not None for v in e):
        ax.plot(its, [float("nan") if v is None else v for v in e], "o-", color="C0", label="test energy RMSE")
    ax.plot(its, [float("nan") if v is None else v for v in val], "s--", color="C0", alpha=0.5,
            label="validation energy RMSE")
    ax.set_xlabel("iteration")
    ax.set_ylabel("energy RMSE (meV/atom)")
    ax.set_yscale("log")
    lines, labels = ax.get_legend_handles_labels()
    f = [(r.get("test") or {}).get("force_rmse") for r in rs]
    if any(v is not None for v in f):
        axf = ax.twinx()
        axf.plot(its, [float("nan") if v is None else 1000 * v for v in f], "^-", color="C1",
                 label="test force RMSE")
        axf.set_ylabel("force RMSE (meV/Å)", color="C1")
        l2, lab2 = axf.get_legend_handles_labels()
        lines, labels = lines + l2, labels + lab2
    ax.legend(lines, labels, fontsize=8)
    ax.set_xticks(its)
    axn.bar(its, [r["n_trainset"] for r in rs], color="0.6", label="training set")
    axn.bar(its, [r.get("n_new", 0) for r in rs], color="C2", label="added this iteration")
    axn.set_xlabel("iteration")
    axn.set_ylabel("structures")
    axn.set_xticks(its)
    axn.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    return buf.getvalue()


def _markdown(report: dict) -> str:
    out = ["# anncli active: report", "", f"Stop: {report.get('stop') or 'running'}", "",
           "| iteration | training structures | new | test E RMSE (meV/atom) | test F RMSE (eV/Å) | "
           "validation E RMSE (meV/atom) | MD failed / runs | candidates | selectable | selected | max score |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["iterations"]:
        test, sel, md = r.get("test") or {}, r.get("select") or {}, r.get("md") or {}
        out.append(f"| {r['iteration']} | {r.get('n_trainset', '-')} | {r.get('n_new', 0)} | "
                   f"{_fmt(test.get('energy_rmse_meV_atom'))} | {_fmt(test.get('force_rmse'))} | "
                   f"{_fmt((r.get('train') or {}).get('val_rmse_meV'))} | {md.get('n_failed', 0)} / "
                   f"{len(md.get('runs', []))} | {sel.get('n_candidates', 0)} | {sel.get('n_selectable', 0)} | "
                   f"{sel.get('n_selected', 0)} | {_fmt(sel.get('max_score'))} |")
    for r in report["iterations"]:
        out += ["", f"## Iteration {r['iteration']}", ""]
        lab = r.get("label") or {}
        out.append(f"Labelled {lab.get('n_labelled', 0)} of {lab.get('n_structures', 0)} structures "
                   f"({lab.get('computed', 0)} computed, {lab.get('reused', 0)} reused).")
        for f in lab.get("failures", []):
            out.append(f"- label failure: {f['structure']}: {f['error']}")
        for run in (r.get("md") or {}).get("runs", []):
            verdict = f"FAILED at {run['failure']}" if run["failed"] else "stable"
            out.append(f"- MD {Path(run['structure']).name} @ {run['temperature']:g} K: {verdict} "
                       f"(min distance {run['min_distance']:.3f} Å, max force spread {_fmt(run['max_forces_std'])} eV/Å)")
        for s in (r.get("select") or {}).get("selected", []):
            out.append(f"- selected #{s['rank']}: {s['origin']} {Path(str(s['source'])).name} frame {s['frame']}: "
                       f"{s['why']}")
        if r.get("stop"):
            out.append(f"\nStopped: {r['stop']}.")
    return "\n".join(out) + "\n"


def write_report(out_dir: Path, records: list[dict], config, stop: str | None = None) -> dict:
    """Write report.json, report.md and (``config.plots``) progress.png; return the report."""
    from anncli.io.atomic import atomic_open

    report = {"stop": stop, "n_iterations": len(records),
              "n_labelled": sum((r.get("label") or {}).get("n_labelled", 0) for r in records),
              "units": {"energy_rmse": "meV/atom", "force_rmse": "eV/Angstrom", "force_spread": "eV/Angstrom",
                        "energy_spread": "meV/atom"},
              "iterations": records}
    with atomic_open(out_dir / "report.json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, allow_nan=True)
    with atomic_open(out_dir / "report.md", "w", encoding="utf-8") as fh:
        fh.write(_markdown(report))
    if config.plots and any("n_trainset" in r for r in records):
        try:
            png = progress_png(records)
            with atomic_open(out_dir / "progress.png", "wb") as fh:
                fh.write(png)
        except Exception as exc:  # noqa: BLE001 - a missing plot must not stop the loop
            logger.warning("progress.png not written: %s", exc)
    return report
