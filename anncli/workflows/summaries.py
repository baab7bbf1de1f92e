"""Text summaries that help users choose filters and cutoffs (energy distribution, neighbours)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def _count_within_nb(offsets, distances, centers, radii):  # pragma: no cover - jitted
    counts = np.zeros((len(centers), len(radii)), dtype=np.int64)
    for c in numba.prange(len(centers)):
        i = centers[c]
        for p in range(offsets[i], offsets[i + 1]):
            d = distances[p]
            for r in range(len(radii)):
                if d <= radii[r]:
                    counts[c, r] += 1
    return counts


def energy_distribution(per_atom: np.ndarray, bins: int = 20, width: int = 40) -> str:
    """Min, median, max, a text histogram and the gaps of energies per atom (eV/atom).

    A *gap* is a run of empty bins between populated ones: structures on either side of it
    are far apart in energy, which users usually want to fill or cut.
    """
    per_atom = np.asarray(per_atom, dtype=float)
    if len(per_atom) == 0:
        return "energy distribution: no structures"
    lo, hi = float(per_atom.min()), float(per_atom.max())
    lines = [
        "cohesive energy per atom (eV/atom): "
        f"min {lo:.6f}  median {float(np.median(per_atom)):.6f}  max {hi:.6f}"
    ]
    if hi - lo <= 0:
        return lines[0]
    counts, edges = np.histogram(per_atom, bins=bins, range=(lo, hi))
    peak = counts.max()
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        bar = "#" * int(round(width * c / peak)) if c else ""
        lines.append(f"  {a:12.5f} .. {b:12.5f} {c:7d} {bar}")
    gaps = []
    populated = np.flatnonzero(counts)
    for left, right in zip(populated[:-1], populated[1:]):
        if right - left > 1:
            gaps.append((edges[left + 1], edges[right]))
    if gaps:
        lines.append(
            "  gaps (no structures): "
            + ", ".join(f"{a:.5f} .. {b:.5f} ({(b - a) * 1000:.0f} meV/atom)" for a, b in gaps)
        )
    else:
        lines.append("  no gaps")
    return "\n".join(lines)


class NeighborStatistics:
    """Per-species neighbour counts within named cutoffs, accumulated batch by batch."""

    def __init__(self, cutoffs: dict[str, dict[str, float]]) -> None:
        # cutoffs[species][name] = radius (Å)
        self.cutoffs = cutoffs
        self._sum = {sp: {n: 0 for n in c} for sp, c in cutoffs.items()}
        self._min = {sp: {n: np.inf for n in c} for sp, c in cutoffs.items()}
        self._max = {sp: {n: 0 for n in c} for sp, c in cutoffs.items()}
        self._atoms = {sp: 0 for sp in cutoffs}

    def update(self, species: str, offsets: np.ndarray, distances: np.ndarray, centers: np.ndarray) -> np.ndarray:
        """Add the neighbour counts of ``centers``; returns their counts within the largest cutoff."""
        names = list(self.cutoffs[species])
        radii = np.array([self.cutoffs[species][n] for n in names], dtype=np.float64)
        counts = _count_within_nb(offsets, distances, np.asarray(centers, dtype=np.int64), radii)
        if len(centers):
            for r, name in enumerate(names):
                self._sum[species][name] += int(counts[:, r].sum())
                self._min[species][name] = min(self._min[species][name], int(counts[:, r].min()))
                self._max[species][name] = max(self._max[species][name], int(counts[:, r].max()))
        self._atoms[species] += len(centers)
        return counts[:, int(np.argmax(radii))] if len(radii) else np.zeros(len(centers), dtype=np.int64)

    def merge(self, other: "NeighborStatistics") -> None:
        """Add the counts of ``other`` (same cutoffs; e.g. another MPI rank's)."""
        for sp in self.cutoffs:
            for name in self.cutoffs[sp]:
                self._sum[sp][name] += other._sum[sp][name]
                self._min[sp][name] = min(self._min[sp][name], other._min[sp][name])
                self._max[sp][name] = max(self._max[sp][name], other._max[sp][name])
            self._atoms[sp] += other._atoms[sp]

    def report(self) -> str:
        """One line per species and cutoff: mean, min and max neighbour counts."""
        lines = ["neighbours per atom (mean, min-max):"]
        for sp, cut in self.cutoffs.items():
            n = self._atoms[sp]
            if n == 0:
                continue
            parts = [
                f"{name} {rc:g} Å: {self._sum[sp][name] / n:.1f} ({self._min[sp][name]}-{self._max[sp][name]})"
                for name, rc in cut.items()
            ]
            lines.append(f"  {sp:<3} ({n} atoms)  " + "; ".join(parts))
        return "\n".join(lines)
