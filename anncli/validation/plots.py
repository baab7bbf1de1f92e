"""The figures of a validation report, drawn to PNG bytes.

Every function takes plain arrays and returns the PNG as ``bytes`` so that the caller decides
where (and whether) it is written; nothing here touches files or matplotlib's global state
(figures are drawn on an Agg canvas of their own, never through ``pyplot``, so a notebook
user's backend is left alone).  Units: energies per atom in eV/atom on the axes, errors in
meV/atom, forces in eV/Å.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = [
    "energy_parity_png",
    "force_parity_png",
    "error_histograms_png",
    "energy_distribution_png",
    "force_error_vs_magnitude_png",
    "error_vs_extrapolation_png",
    "error_vs_spread_png",
    "md_run_png",
]

#: Above this many points a scatter plot becomes a 2-D histogram (hexbin).
HEXBIN_ABOVE = 20000


def _figure(n_panels: int = 1, width: float = 5.0, height: float = 4.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n_panels, k + 1) for k in range(n_panels)]
    return fig, axes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _parity(ax, ref: np.ndarray, pred: np.ndarray, label: str, unit: str) -> None:
    lo = float(min(ref.min(), pred.min()))
    hi = float(max(ref.max(), pred.max()))
    pad = 0.03 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    if len(ref) > HEXBIN_ABOVE:
        hb = ax.hexbin(ref, pred, gridsize=120, bins="log", mincnt=1, cmap="viridis", extent=(lo, hi, lo, hi))
        ax.figure.colorbar(hb, ax=ax, label="count")
    else:
        ax.scatter(ref, pred, s=8, alpha=0.6, linewidths=0, color="tab:blue", label=label)
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, label="ideal (y = x)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"reference ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.legend(loc="upper left", fontsize=8, frameon=False)


def energy_parity_png(ref_per_atom: np.ndarray, pred_per_atom: np.ndarray, rmse_mev: float, mae_mev: float,
                      title: str = "Energy") -> bytes:
    """Predicted against reference energy per atom (eV/atom), RMSE and MAE in the legend."""
    fig, (ax,) = _figure()
    _parity(ax, np.asarray(ref_per_atom), np.asarray(pred_per_atom),
            f"{len(ref_per_atom)} structures\nRMSE {rmse_mev:.3g} meV/atom\nMAE {mae_mev:.3g} meV/atom", "eV/atom")
    ax.set_title(title)
    return _png(fig)


def force_parity_png(ref: np.ndarray, pred: np.ndarray, rmse: float, mae: float) -> bytes:
    """Predicted against reference force components (eV/Å), RMSE and MAE in the legend."""
    fig, (ax,) = _figure()
    r = np.asarray(ref).ravel()
    p = np.asarray(pred).ravel()
    _parity(ax, r, p, f"{len(r)} components\nRMSE {rmse:.3g} eV/Å\nMAE {mae:.3g} eV/Å", "eV/Å")
    if len(r) > HEXBIN_ABOVE:
        ax.text(0.97, 0.03, f"{len(r)} components\nRMSE {rmse:.3g} eV/Å\nMAE {mae:.3g} eV/Å",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    ax.set_title("Force components")
    return _png(fig)


def error_histograms_png(energy_err_mev: np.ndarray, force_err: np.ndarray | None) -> bytes:
    """Histograms of the energy error per atom (meV/atom) and, if given, of force components (eV/Å)."""
    n = 2 if force_err is not None and len(force_err) else 1
    fig, axes = _figure(n)
    e = np.asarray(energy_err_mev)
    axes[0].hist(e, bins=min(60, max(10, len(e) // 5)), color="tab:blue", alpha=0.8)
    axes[0].axvline(0, color="black", lw=0.8)
    axes[0].set_xlabel("energy error (meV/atom)")
    axes[0].set_ylabel("structures")
    axes[0].set_title(f"Energy error: mean {e.mean():+.3g}, RMSE {np.sqrt(np.mean(e * e)):.3g} meV/atom")
    if n == 2:
        f = np.asarray(force_err).ravel()
        axes[1].hist(f, bins=80, color="tab:orange", alpha=0.8, log=True)
        axes[1].axvline(0, color="black", lw=0.8)
        axes[1].set_xlabel("force component error (eV/Å)")
        axes[1].set_ylabel("components (log)")
        axes[1].set_title(f"Force error: RMSE {np.sqrt(np.mean(f * f)):.3g} eV/Å")
    return _png(fig)


def energy_distribution_png(test_per_atom: np.ndarray, train_per_atom: np.ndarray | None) -> bytes:
    """Cohesive energy per atom of the test set over the training set's (eV/atom)."""
    fig, (ax,) = _figure(width=6.0)
    t = np.asarray(test_per_atom)
    data = [t] if train_per_atom is None else [np.asarray(train_per_atom), t]
    lo = min(float(d.min()) for d in data)
    hi = max(float(d.max()) for d in data)
    n_bins = int(np.clip(np.sqrt(sum(len(d) for d in data)), 10, 60))
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-3, n_bins + 1)
    if train_per_atom is not None:
        ax.hist(data[0], bins=bins, density=True, alpha=0.5, color="tab:gray", label=f"training set ({len(data[0])})")
    ax.hist(t, bins=bins, density=True, alpha=0.6, color="tab:blue", label=f"test set ({len(t)})")
    ax.set_xlabel("cohesive energy per atom (eV/atom)")
    ax.set_ylabel("density")
    ax.set_title("Energy distribution")
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def force_error_vs_magnitude_png(ref_norm: np.ndarray, err_norm: np.ndarray) -> bytes:
    """|F_pred - F_ref| against |F_ref| per atom (eV/Å), with the binned RMS error."""
    fig, (ax,) = _figure(width=6.0)
    x = np.asarray(ref_norm)
    y = np.asarray(err_norm)
    if len(x) > HEXBIN_ABOVE:
        ax.hexbin(x, y, gridsize=100, bins="log", mincnt=1, cmap="viridis")
    else:
        ax.scatter(x, y, s=6, alpha=0.4, linewidths=0, color="tab:orange", label="atoms")
    edges = np.quantile(x, np.linspace(0, 1, 11)) if len(x) >= 20 else np.array([x.min(), x.max()])
    edges = np.unique(edges)
    if len(edges) > 1:
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        centres, rms = [], []
        for b in range(len(edges) - 1):
            m = idx == b
            if m.any():
                centres.append(float(x[m].mean()))
                rms.append(float(np.sqrt(np.mean(y[m] ** 2))))
        ax.plot(centres, rms, "o-", color="black", ms=4, label="RMS error per decile of |F_ref|")
    ax.set_xlabel("|F_ref| (eV/Å)")
    ax.set_ylabel("|F_pred − F_ref| (eV/Å)")
    ax.set_title("Force error against force magnitude")
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def error_vs_extrapolation_png(energy_per_atom: np.ndarray, energy_err_mev: np.ndarray,
                               grade: np.ndarray) -> bytes:
    """|Energy error| against energy per atom and against the extrapolation grade."""
    fig, axes = _figure(2)
    err = np.abs(np.asarray(energy_err_mev))
    axes[0].scatter(energy_per_atom, err, s=8, alpha=0.6, linewidths=0, color="tab:blue")
    axes[0].set_xlabel("reference cohesive energy per atom (eV/atom)")
    axes[0].set_ylabel("|energy error| (meV/atom)")
    axes[0].set_title("Error against energy")
    g = np.asarray(grade)
    inside = g <= 0
    n_out = int((~inside).sum())
    x = g
    if n_out:  # log axis; structures inside the range sit on a marked line a decade below the rest
        floor = float(g[~inside].min()) / 10.0
        x = np.where(inside, floor, g)
        axes[1].set_xscale("log")
        axes[1].axvline(floor, color="tab:green", lw=0.8, ls=":")
        axes[1].text(floor, 1.0, " inside", color="tab:green", transform=axes[1].get_xaxis_transform(),
                     ha="left", va="top", fontsize=8)
    axes[1].scatter(x, err, s=8, alpha=0.6, linewidths=0, c=np.where(inside, "tab:green", "tab:red"))
    axes[1].set_xlabel("extrapolation grade (largest feature excess / training range)")
    axes[1].set_ylabel("|energy error| (meV/atom)")
    axes[1].set_title(f"Error against extrapolation\n({n_out} of {len(g)} structures outside the range)")
    return _png(fig)


def error_vs_spread_png(energy_std_mev: np.ndarray, energy_err_mev: np.ndarray,
                        forces: tuple[np.ndarray, np.ndarray] | None = None) -> bytes:
    """|Error| against the committee spread: energies per structure and, if given
    ``(forces_std, |F_pred - F_ref|)`` per atom, forces; log-log with the line y = x."""
    from anncli.validation.metrics import rank_correlation

    panels = [(np.asarray(energy_std_mev), np.abs(np.asarray(energy_err_mev)), "meV/atom", "structures")]
    if forces is not None:
        panels.append((np.asarray(forces[0]), np.asarray(forces[1]), "eV/Å", "atoms"))
    fig, axes = _figure(len(panels))
    for ax, (x, y, unit, what) in zip(axes, panels):
        ok = (x > 0) & (y > 0)
        if ok.sum() > HEXBIN_ABOVE:
            ax.hexbin(x[ok], y[ok], gridsize=100, bins="log", mincnt=1, xscale="log", yscale="log", cmap="viridis")
        else:
            ax.scatter(x[ok], y[ok], s=8, alpha=0.5, linewidths=0, color="tab:purple", label=what)
        if ok.any():
            lo = float(min(x[ok].min(), y[ok].min()))
            hi = float(max(x[ok].max(), y[ok].max()))
            ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, label="error = spread")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"committee spread ({unit})")
        ax.set_ylabel(f"|error| ({unit})")
        ax.set_title(f"{'Energy' if unit == 'meV/atom' else 'Force'}: rank correlation "
                     f"{rank_correlation(x, y):.2f}")
        ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def md_run_png(records: list[dict], title: str, min_distance: float, failure: str = "") -> bytes:
    """One MD run over time: energies and temperature, shortest distance per species pair,
    largest force (and committee force spread), extrapolating atoms."""
    fig, axes = _figure(4, width=4.2, height=3.8)
    t = np.array([r["time_ps"] for r in records])
    ax = axes[0]
    ax.plot(t, [r["epot"] - records[0]["epot"] for r in records], label="E_pot − E_pot(0)")
    ax.plot(t, [r["etot"] - records[0]["etot"] for r in records], label="E_total − E_total(0)")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("energy (eV)")
    ax2 = ax.twinx()
    ax2.plot(t, [r["temperature"] for r in records], color="tab:red", lw=0.8, alpha=0.6)
    ax2.set_ylabel("temperature (K)", color="tab:red")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax = axes[1]
    pairs = sorted({k for r in records for k in r if k.startswith("min_") and k != "min_distance"})
    for key in pairs:
        ax.plot(t, [r.get(key, np.nan) for r in records], label=key[4:])
    ax.axhline(min_distance, color="black", ls=":", lw=0.8, label="threshold")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("shortest distance (Å)")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[2]
    ax.plot(t, [r["max_force"] for r in records], label="largest force")
    if "max_forces_std" in records[0]:
        ax.plot(t, [r["max_forces_std"] for r in records], label="largest committee force spread")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("eV/Å")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[3]
    ax.plot(t, [r["n_extrapolating"] for r in records], color="tab:orange")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("extrapolating atoms")
    fig.suptitle(title + (f" — FAILED at {failure}" if failure else " — stable"), fontsize=10)
    return _png(fig)
