"""Energy-distribution and neighbour-count summaries."""

from __future__ import annotations

import numpy as np

from anncli.workflows.summaries import NeighborStatistics, energy_distribution


def test_energy_distribution_reports_extremes_and_gap():
    e = np.concatenate([np.linspace(-5.0, -4.92, 50), np.linspace(-4.1, -4.0, 10)])
    text = energy_distribution(e, bins=10)
    assert "min -5.000000" in text and "max -4.000000" in text
    # bins are 0.1 eV wide: -4.9..-4.1 is empty -> one gap of 800 meV
    assert "gaps" in text and "-4.90000 .. -4.10000 (800 meV/atom)" in text


def test_energy_distribution_without_gaps():
    assert "no gaps" in energy_distribution(np.linspace(0, 1, 100), bins=10)


def test_neighbor_statistics_counts_within_each_cutoff():
    stats = NeighborStatistics({"A": {"radial": 3.0, "angular": 2.0}})
    offsets = np.array([0, 3, 4, 4])
    distances = np.array([1.0, 2.5, 2.9, 1.5])
    counts = stats.update("A", offsets, distances, np.array([0, 1, 2]))
    np.testing.assert_array_equal(counts, [3, 1, 0])
    text = stats.report()
    assert "radial 3 Å: 1.3 (0-3)" in text and "angular 2 Å: 0.7 (0-1)" in text
