"""Error statistics of predictions against reference labels (plain numpy).

This module owns the numbers of a test-set report: energy errors per atom and per
structure, force errors per component, per species and of the force vector, stress errors,
and the rank correlation between an uncertainty measure and the error.  Every function takes
arrays and returns plain dicts of floats, so the report, the JSON file and the tests share
one definition.  Units: eV, Å (energies per atom are returned in meV/atom where the key
says so).
"""

from __future__ import annotations

import numpy as np

__all__ = ["error_summary", "energy_errors", "force_errors", "stress_errors", "rank_correlation"]


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, largest absolute error and mean (bias) of an error array.

    Parameters
    ----------
    errors : array_like
        Prediction minus reference, any shape (flattened).

    Returns
    -------
    dict
        ``{"rmse", "mae", "max", "mean", "n"}``; NaN statistics (and n = 0) for no values.
    """
    e = np.asarray(errors, dtype=float).ravel()
    if e.size == 0:
        nan = float("nan")
        return {"rmse": nan, "mae": nan, "max": nan, "mean": nan, "n": 0}
    return {
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mae": float(np.mean(np.abs(e))),
        "max": float(np.max(np.abs(e))),
        "mean": float(np.mean(e)),
        "n": int(e.size),
    }


def energy_errors(predicted: np.ndarray, reference: np.ndarray, n_atoms: np.ndarray) -> dict:
    """Energy errors per atom (meV/atom) and per structure (eV).

    Parameters
    ----------
    predicted, reference : ndarray of shape (n_structures,), eV
        Total (or cohesive: the same difference) energies.
    n_atoms : ndarray of shape (n_structures,)

    Returns
    -------
    dict
        ``{"per_atom_meV": error_summary, "per_structure_eV": error_summary}``.
    """
    err = np.asarray(predicted, float) - np.asarray(reference, float)
    return {
        "per_atom_meV": error_summary(1000.0 * err / np.asarray(n_atoms, float)),
        "per_structure_eV": error_summary(err),
    }


def force_errors(predicted: np.ndarray, reference: np.ndarray, symbols: list[str] | np.ndarray) -> dict:
    """Force errors (eV/Å) over all atoms with reference forces.

    Parameters
    ----------
    predicted, reference : ndarray of shape (n_atoms, 3), eV/Å
    symbols : sequence of str, length n_atoms

    Returns
    -------
    dict
        ``"component"``: statistics of every Cartesian component; ``"vector"``: of the
        length of the error vector |F_pred - F_ref|; ``"per_species"``: component statistics
        of each species; ``"relative_percent"``: RMSE of the components divided by the RMS
        of the reference components, in %.
    """
    p = np.asarray(predicted, float).reshape(-1, 3)
    r = np.asarray(reference, float).reshape(-1, 3)
    d = p - r
    sym = np.asarray(symbols)
    per_species = {str(s): error_summary(d[sym == s]) for s in dict.fromkeys(sym.tolist())}
    ref_rms = float(np.sqrt(np.mean(r * r))) if r.size else float("nan")
    comp = error_summary(d)
    return {
        "component": comp,
        "vector": error_summary(np.linalg.norm(d, axis=1)),
        "per_species": per_species,
        "relative_percent": 100.0 * comp["rmse"] / ref_rms if ref_rms > 0 else float("nan"),
    }


def stress_errors(predicted: np.ndarray, reference: np.ndarray) -> dict:
    """Stress errors in GPa over the six independent components.

    Parameters
    ----------
    predicted, reference : ndarray of shape (n, 3, 3), eV/Å³

    Returns
    -------
    dict
        ``{"component_GPa": error_summary}``.
    """
    from ase.units import GPa

    p = np.asarray(predicted, float).reshape(-1, 3, 3)
    r = np.asarray(reference, float).reshape(-1, 3, 3)
    iu = np.triu_indices(3)
    return {"component_GPa": error_summary((p - r)[:, iu[0], iu[1]] / GPa)}


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two arrays (scipy; ties get their average rank).

    NaN if fewer than 3 values, different lengths, or either array is constant.
    """
    from scipy.stats import spearmanr

    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    if x.size < 3 or x.size != y.size or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
