"""Free-atom (reference) energies fitted to the training structures: ``reference_energies: fit``.

Most DFT data sets come without isolated-atom energies.  As nequip and MACE do, the
per-species energies e_s are then chosen by linear least squares over the structures,

    minimise  sum over structures k of ( E_k - sum_s n_ks e_s )**2,

with n_ks the number of atoms of species s in structure k and E_k its total energy.
Species with a given value are subtracted from E_k first; only the ``fit`` ones are
unknowns.  ``generate`` streams its structures, so :class:`ReferenceEnergyFit` keeps only
one row per distinct composition (count and energy sum): the least-squares problem over
those rows, weighted by their counts, has the same solution as over every structure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["ReferenceEnergyFit", "apply_fit", "fit_report"]

#: Relative singular-value threshold below which a direction counts as undetermined.
RCOND = 1e-10


class ReferenceEnergyFit:
    """Accumulates (composition, total energy) pairs and solves for the ``fit`` species.

    Parameters
    ----------
    species : sequence of str
        All species, in the training set's order.
    given : dict of str to float
        The species with a given free-atom energy (eV); every other species is fitted.
    """

    def __init__(self, species: Sequence[str], given: dict[str, float]) -> None:
        self.species = list(species)
        self.fitted = [s for s in self.species if s not in given]
        self._given = np.array([given.get(s, 0.0) for s in self.species])
        self._rows: dict[tuple[int, ...], list] = {}  # composition -> [count, mean E, M2]
        self.n_structures = 0
        self.rms_per_atom = float("nan")

    def add(self, counts: Sequence[int], energy: float) -> None:
        """Add one structure.

        Parameters
        ----------
        counts : sequence of int, length n_species
            Atoms of each species (training-set order).
        energy : float, eV
            Its total energy.
        """
        key = tuple(int(c) for c in counts)
        row = self._rows.get(key)
        if row is None:  # count, mean, sum of squared deviations (Welford: no cancellation)
            row = self._rows[key] = [0, 0.0, 0.0]
        row[0] += 1
        delta = float(energy) - row[1]
        row[1] += delta / row[0]
        row[2] += delta * (float(energy) - row[1])
        self.n_structures += 1

    def solve(self) -> dict[str, float]:
        """The least-squares free-atom energies of the fitted species (eV).

        Also sets :attr:`rms_per_atom`, the root-mean-square residual per atom (eV/atom)
        over all structures.

        Raises
        ------
        DataError
            If the compositions do not determine the fitted energies: a species to fit
            occurs in no structure, or the compositions are linearly dependent (e.g.
            every structure has the same Ti:O ratio).
        """
        if not self.fitted:
            return {}
        if not self._rows:
            raise DataError("reference_energies: nothing to fit them to (no structure with an energy was read)")
        comps = np.array(list(self._rows), dtype=float)  # (n_comp, n_species)
        count = np.array([r[0] for r in self._rows.values()], dtype=float)
        mean_e = np.array([r[1] for r in self._rows.values()])
        m2 = np.array([r[2] for r in self._rows.values()])
        cols = [self.species.index(s) for s in self.fitted]
        a = comps[:, cols]
        b = mean_e - comps @ self._given
        absent = [s for s, j in zip(self.fitted, range(a.shape[1])) if not a[:, j].any()]
        if absent:
            raise DataError(
                f"reference_energies: cannot fit {', '.join(absent)}: no structure contains "
                f"{'it' if len(absent) == 1 else 'them'}; give {'its' if len(absent) == 1 else 'their'} "
                "free-atom energy or remove the species"
            )
        w = np.sqrt(count)
        x, _, rank, _ = np.linalg.lstsq(a * w[:, None], b * w, rcond=RCOND)
        if rank < len(cols):
            raise DataError(
                f"reference_energies: the compositions of the {self.n_structures} structures do not "
                f"determine separate free-atom energies for {', '.join(self.fitted)} (they span {rank} of "
                f"{len(cols)} directions, e.g. every structure has the same ratio of these species); "
                f"give numbers for {len(cols) - rank} of them and fit the rest"
            )
        n_atoms = comps.sum(axis=1)
        sq = (count * (a @ x - b) ** 2 + m2) / n_atoms**2  # per composition: sum of squared residuals per atom
        self.rms_per_atom = float(np.sqrt(sq.sum() / count.sum()))
        return {s: float(v) for s, v in zip(self.fitted, x)}


def apply_fit(writer, fit: ReferenceEnergyFit, e_ref: dict[str, float],
              species: list[str]) -> tuple[dict[str, float], np.ndarray]:
    """Solve the fit and record it in a training set that holds every structure.

    Parameters
    ----------
    writer : anncli.io.trainset.TrainsetWriter
        The open writer, after the last batch.
    fit : ReferenceEnergyFit
        The accumulated compositions and energies.
    e_ref : dict of str to float
        Free-atom energies (eV) of every species; the fitted ones are updated in place.
    species : list of str
        The training set's species order.

    Returns
    -------
    fitted : dict of str to float
        The fitted free-atom energies (eV).
    cohesive : ndarray of shape (n_structures,), eV
        The cohesive energies with the fitted values, in file order.
    """
    fitted = fit.solve()
    e_ref.update(fitted)
    values = np.array([e_ref[s] for s in species])
    cohesive = writer.set_reference_energies(values, np.array([s in fitted for s in species]))
    for sym, value in fitted.items():
        logger.info("reference energy of %s fitted: %.8f eV", sym, value)
    logger.info("reference energy fit: rms residual %.3f meV/atom over %d structures",
                1000 * fit.rms_per_atom, fit.n_structures)
    return fitted, cohesive


def fit_report(fitted: dict[str, float], fit: ReferenceEnergyFit) -> str:
    """The lines of the generate summary that give the fitted values."""
    lines = [f"Free-atom energies fitted by least squares to the total energies of {fit.n_structures} structures:"]
    lines += [f"  {sym:<3} {value:18.8f} eV" for sym, value in fitted.items()]
    lines.append(f"  rms residual {1000 * fit.rms_per_atom:.3f} meV/atom (the part of the cohesive energies "
                 "that composition alone does not explain)")
    return "\n".join(lines)
