"""The validation report as text (standard output) and as one HTML page.

Both render the dict that :func:`anncli.workflows.validate.run` also writes as report.json,
so the three always show the same numbers.  The HTML page is self-contained apart from the
PNG files next to it (same directory).
"""

from __future__ import annotations

import html
import math

__all__ = ["summary_text", "render_html"]


def _f(x, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return format(x, fmt)


def _stat_rows(stats: dict) -> list[tuple[str, str, str, str, str]]:
    """(quantity, RMSE, MAE, max, unit) rows of the error tables."""
    e = stats["energy"]
    rows = [
        ("energy per atom", _f(e["per_atom_meV"]["rmse"]), _f(e["per_atom_meV"]["mae"]),
         _f(e["per_atom_meV"]["max"]), "meV/atom"),
        ("energy per structure", _f(e["per_structure_eV"]["rmse"]), _f(e["per_structure_eV"]["mae"]),
         _f(e["per_structure_eV"]["max"]), "eV"),
    ]
    f = stats.get("forces")
    if f:
        rows.append(("force components", _f(f["component"]["rmse"]), _f(f["component"]["mae"]),
                     _f(f["component"]["max"]), "eV/Å"))
        rows.append(("|force error vector|", _f(f["vector"]["rmse"]), _f(f["vector"]["mae"]),
                     _f(f["vector"]["max"]), "eV/Å"))
        for sym, s in f["per_species"].items():
            rows.append((f"force components, {sym}", _f(s["rmse"]), _f(s["mae"]), _f(s["max"]), "eV/Å"))
    st = stats.get("stress")
    if st:
        c = st["component_GPa"]
        rows.append((f"stress ({st['n_structures']} structures)", _f(c["rmse"]), _f(c["mae"]), _f(c["max"]), "GPa"))
    return rows


def _candidates_text(c: dict) -> str:
    return (f" Candidates: {c['n_candidates']} structures scored by {c['rank_by']}; {c['n_above_threshold']} above "
            f"{c['threshold']:g}; {c['n_selected']} selected"
            + (" by farthest-point sampling" if c["diverse"] and c["n_selected"] else "")
            + (" (selected.extxyz)" if c["n_selected"] else ""))


def summary_text(report: dict) -> str:
    """A few lines for the terminal: the error table, extrapolation, committee and candidates."""
    stats = report["statistics"]
    tail = [_candidates_text(report["candidates"])] if report.get("candidates") else []
    head = []
    if report.get("baseline"):
        head.append(f" Δ-learning baseline {report['baseline']['description']} included: predictions are "
                    "baseline + networks")
    if report.get("md"):
        for r in report["md"]["runs"]:
            tail.append(f" MD {r['structure']} @ {r['temperature']:g} K ({r['ensemble']}): "
                        + (f"FAILED at {r['failure']}" if r["failed"] else f"stable for {r['steps']} steps")
                        + f"; shortest distance {r['min_distance']:.3f} Å, up to {r['max_extrapolating']} "
                        "extrapolating atoms")
    if stats is None:
        return "\n".join(head + tail) + "\n"
    lines = head + [f" Test set: {report['n_structures']} structures, {report['n_atoms']} atoms "
             f"({report['n_structures_with_forces']} with reference forces)",
             f" {'quantity':<28}{'RMSE':>12}{'MAE':>12}{'max':>12}  unit"]
    for name, rmse, mae, mx, unit in _stat_rows(stats):
        lines.append(f" {name:<28}{rmse:>12}{mae:>12}{mx:>12}  {unit}")
    f = stats.get("forces")
    if f:
        lines.append(f" force RMSE relative to the RMS reference force: {_f(f['relative_percent'], '.3g')} %")
    x = stats["extrapolation"]
    lines.append(f" Extrapolating atoms: {x['n_atoms']} in {x['n_structures']} structure(s) "
                 f"({100 * x['fraction_of_atoms']:.3g} % of the atoms; largest grade {_f(x['max_grade'], '.3g')})")
    c = stats.get("committee")
    if c:
        lines.append(f" Committee of {c['members']}: energy spread {_f(c['energy_std_per_atom_meV_mean'], '.3g')} "
                     f"meV/atom on average; rank correlation of spread and |error|: energies "
                     f"{_f(c['energy_spread_error_rank_correlation'], '.2f')}"
                     + (f", forces {_f(c.get('force_spread_error_rank_correlation'), '.2f')}"
                        if "force_spread_error_rank_correlation" in c else ""))
    if report.get("worst_structures"):
        w = report["worst_structures"][0]
        lines.append(f" Worst structure: {w['source']}" + (f"@{w['frame']}" if w["frame"] else "")
                     + f" ({_f(w['error_per_atom_meV'], '+.4g')} meV/atom)")
    return "\n".join(lines + tail) + "\n"


_STYLE = """
body { font-family: sans-serif; max-width: 1150px; margin: 1.5em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
.grid { display: flex; flex-wrap: wrap; gap: 0.5em; }
.grid img { max-width: 49%; }
.note { color: #555; font-size: 0.9em; }
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict) -> str:
    """One HTML page: what was tested, the errors, the worst structures, extrapolation, figures."""
    stats = report["statistics"]
    pot = report["potential"]
    pot_text = pot if isinstance(pot, str) else ", ".join(f"{k}: {v}" for k, v in pot.items())
    members = report.get("committee_members", 1)
    head = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>anncli validate</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Validation report</h1>",
        f"<p>Potential <code>{html.escape(pot_text)}</code> (species {html.escape(' '.join(report['species']))}"
        + (f"; a committee of {members}" if members > 1 else "") + ").</p>",
    ]
    if report.get("baseline"):
        head.append(f"<p>Δ-learning model: the baseline <code>{html.escape(report['baseline']['description'])}"
                    "</code> is included (energies, forces and stress are baseline + networks).</p>")
    tail = _candidates_html(report["candidates"]) if report.get("candidates") else []
    if report.get("md"):
        tail += _md_html(report["md"])
    if stats is None:
        figs = []
        if report.get("figures"):
            figs = ["<h2>Figures</h2><div class='grid'>"] + [
                f"<img src='{html.escape(n)}' alt='{html.escape(n)}'>" for n in report["figures"]] + ["</div>"]
        return "\n".join(head + tail + figs + ["</body></html>\n"])
    x = stats["extrapolation"]
    parts = head + [
        "<h2>Test set</h2>",
        f"<p>{report['n_structures']} test structures ({report['n_atoms']} atoms, "
        f"{report['n_structures_with_forces']} with reference forces) from {report['test_files']} file(s).</p>",
        "<h2>Errors</h2>",
        _table(["quantity", "RMSE", "MAE", "max |error|", "unit"], [list(r) for r in _stat_rows(stats)]),
        f"<p class='note'>Energy bias (mean error): {_f(stats['energy']['per_atom_meV']['mean'], '+.3g')} meV/atom.",
    ]
    if stats.get("forces"):
        parts.append(f" Force RMSE relative to the RMS reference force: "
                     f"{_f(stats['forces']['relative_percent'], '.3g')} %.")
    parts.append("</p>")
    parts += [
        "<h2>Extrapolation</h2>",
        f"<p>{x['n_atoms']} atoms in {x['n_structures']} of {report['n_structures']} structures have features "
        f"outside the training range ({100 * x['fraction_of_atoms']:.3g} % of the atoms; tolerance "
        f"{x['tolerance']:g} of the range). Largest grade (feature excess / training range): "
        f"{_f(x['max_grade'], '.3g')}. Energy RMSE inside the range {_f(x['energy_rmse_meV_inside'], '.3g')}, "
        f"outside {_f(x['energy_rmse_meV_outside'], '.3g')} meV/atom; rank correlation of grade and |error|: "
        f"{_f(x['energy_error_rank_correlation'], '.2f')}.</p>",
        "<p class='note'>extrapolation.csv lists the atoms (worst first); extrapolating.extxyz holds the "
        "structures, ready for reference calculations.</p>",
    ]
    c = stats.get("committee")
    if c:
        parts += [
            "<h2>Committee</h2>",
            f"<p>{c['members']} members. Spread of the members' energies: "
            f"{_f(c['energy_std_per_atom_meV_mean'], '.3g')} meV/atom on average, "
            f"{_f(c['energy_std_per_atom_meV_max'], '.3g')} at most. Does the spread predict the error? "
            f"Rank correlation of spread and |error|: energies {_f(c['energy_spread_error_rank_correlation'], '.2f')}"
            + (f", forces {_f(c.get('force_spread_error_rank_correlation'), '.2f')}"
               if "force_spread_error_rank_correlation" in c else "")
            + " (1: the spread orders the structures exactly as the errors; 0: no relation).</p>",
        ]
    if report.get("worst_structures"):
        cols = ["rank", "source", "frame", "n_atoms", "error_per_atom_meV", "force_rmse", "n_extrapolating",
                "extrapolation_grade", "energy_std_per_atom_meV"]
        rows = [[w[c] if not isinstance(w[c], float) else _f(w[c]) for c in cols] for w in report["worst_structures"]]
        parts += ["<h2>Largest energy errors</h2>", _table(cols, rows),
                  "<p class='note'>All structures: structures.csv.</p>"]
    parts += tail
    if report.get("figures"):
        parts.append("<h2>Figures</h2><div class='grid'>")
        parts += [f"<img src='{html.escape(name)}' alt='{html.escape(name)}'>" for name in report["figures"]]
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _candidates_html(c: dict) -> list[str]:
    rows = [[k + 1, sel["source"], sel["frame"], _f(sel["score"])] for k, sel in enumerate(c["selected"])]
    return [
        "<h2>Structures to compute next</h2>",
        f"<p>{c['n_candidates']} candidate structures from {c['files']} file(s) scored by "
        f"<b>{html.escape(c['rank_by'])}</b>; {c['n_above_threshold']} above the threshold {c['threshold']:g}; "
        f"{c['n_selected']} selected" + (" by farthest-point sampling in feature space among the highest "
                                         "scores" if c["diverse"] else " (the highest scores)")
        + (". They are in selected.extxyz" if c["n_selected"] else ": no candidate scores above the threshold")
        + "; every candidate's scores are in candidates.csv.</p>",
        _table(["order", "source", "frame", "score"], rows),
    ]


def _md_html(md: dict) -> list[str]:
    rows = [[r["run"], r["structure"], f"{r['temperature']:g}", r["ensemble"],
             f"{r['steps_done']}/{r['steps']}", "FAILED: " + r["failure"] if r["failed"] else "stable",
             _f(r["min_distance"], ".3f"), _f(r["max_abs_drift_meV_atom"], ".3g"), r["max_extrapolating"],
             _f(r["max_forces_std"], ".3g")] for r in md["runs"]]
    return [
        "<h2>MD stability</h2>",
        f"<p>{len(md['runs'])} run(s), {md['n_failed']} failed. A run fails when two atoms come closer than "
        f"{md['min_distance_threshold']:g} Å"
        + (f", the NVE energy drifts by more than {md['max_drift_threshold']:g} meV/atom" if md["max_drift_threshold"]
           else "")
        + " or the committee force spread exceeds its threshold; failing frames are in md_failures.extxyz, "
        "every recorded step in md_NN.csv.</p>",
        _table(["run", "structure", "T (K)", "ensemble", "steps", "verdict", "shortest distance (Å)",
                "max |drift| (meV/atom)", "max extrapolating atoms", "max force spread (eV/Å)"], rows),
    ]
