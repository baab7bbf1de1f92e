"""Benchmark of :func:`anncli.descriptors.neighbors.build_neighbor_list` (cutoff 8 Å, TiO2).

Cases (all periodic, ~190 neighbours per atom):

(a) all of TiO2-1000 (1000 cells of 6-95 atoms, many smaller than the cutoff) in batches of
    ~8,192 atoms, gathered in file order as ``anncli generate`` does;
(b) 1,000 copies of a 96-atom TiO2 cell (structure0001.xsf x (1, 1, 4)) in batches of ~8,192 atoms,
    every copy rattled on its own (0.02 Å, as the atoms of (c)): identical copies would let the
    CPU's branch predictor learn the candidate pattern and flatter the small-cell path;
(c) one 100,800-atom supercell of that 96-atom cell (x (10, 7, 15)), rattled by 0.02 Å.

Every case runs once to warm up (compilation, first touch of memory), then ``--repeat`` times;
the best and the median are reported as µs per atom and ns per pair, with 1 and 2 Numba threads.
Ends with ``RESULT nl_small_us_per_atom=<x> nl_large_us_per_atom=<x>`` (medians of (b) and (c)
with the most threads).

Usage: python benchmarks/bench_neighbors.py [--data ../shared/data] [--repeat 5] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CUTOFF = 8.0
BATCH_ATOMS = 8192


def _batches(structures: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple]:
    """(positions, cells, pbcs, offsets) batches of >= BATCH_ATOMS atoms (last one smaller)."""
    out, cur = [], []

    def flush():
        if cur:
            n = np.array([len(p) for p, _ in cur])
            offsets = np.zeros(len(cur) + 1, dtype=np.int64)
            np.cumsum(n, out=offsets[1:])
            out.append((np.concatenate([p for p, _ in cur]), np.array([c for _, c in cur]),
                        np.ones((len(cur), 3), bool), offsets))

    n_cur = 0
    for pos, cell in structures:
        cur.append((pos, cell))
        n_cur += len(pos)
        if n_cur >= BATCH_ATOMS:
            flush()
            cur, n_cur = [], 0
    flush()
    return out


def _supercell(pos: np.ndarray, cell: np.ndarray, reps: tuple[int, int, int], seed: int = 0) -> tuple:
    """(positions, cell) of ``cell`` repeated ``reps`` times, every atom rattled by 0.02 Å."""
    shifts = np.array([[i, j, k] for i in range(reps[0]) for j in range(reps[1]) for k in range(reps[2])])
    big = (pos[None, :, :] + (shifts @ cell)[:, None, :]).reshape(-1, 3)
    big = big + np.random.default_rng(seed).normal(scale=0.02, size=big.shape)
    return big, cell * np.array(reps)[:, None]


def _time_case(batches: list[tuple], repeat: int) -> tuple[float, float, int, int]:
    """(best s, median s, atoms, pairs) of building the lists of all batches."""
    from anncli.descriptors.neighbors import build_neighbor_list

    n_atoms = sum(len(b[0]) for b in batches)
    n_pairs = 0
    times = []
    for r in range(repeat + 1):
        t0 = time.perf_counter()
        pairs = 0
        for b in batches:
            nl = build_neighbor_list(*b, CUTOFF)
            pairs += nl.n_pairs
            del nl
        dt = time.perf_counter() - t0
        n_pairs = pairs
        if r:  # run 0 is the warm-up
            times.append(dt)
    return min(times), float(np.median(times)), n_atoms, n_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", default="abc", help="subset of 'abc'")
    args = parser.parse_args()
    xsf = args.data / "TiO2-1000" / "xsf"
    if not xsf.is_dir():
        raise SystemExit(f"{xsf}: TiO2-1000 not found (give --data)")
    import numba

    from anncli.io import read_xsf

    files = sorted(xsf.glob("*.xsf"))
    structures = [(s.positions, s.cell) for s in map(read_xsf, files)]
    s1 = read_xsf(xsf / "structure0001.xsf")
    small = _supercell(s1.positions, s1.cell, (1, 1, 4))  # 96 atoms
    cases = {
        "a": ("TiO2-1000 (6-95 atoms)", _batches(structures)),
        "b": ("1,000 x 96-atom cell", _batches([_supercell(s1.positions, s1.cell, (1, 1, 4), seed)
                                                for seed in range(1000)])),
        "c": ("1 x 100,800-atom cell", _batches([_supercell(*small, (10, 7, 15))])),
    }
    threads = [t for t in args.threads if t <= numba.config.NUMBA_NUM_THREADS]
    print(f"machine: {os.cpu_count()} cores; cutoff {CUTOFF} Å; {args.repeat} runs after a warm-up")
    medians: dict[tuple[str, int], float] = {}
    for t in threads:
        numba.set_num_threads(t)
        for key in args.cases:
            name, batches = cases[key]
            best, med, n_atoms, n_pairs = _time_case(batches, args.repeat)
            medians[key, t] = med / n_atoms * 1e6
            print(f"({key}) {name:24s} threads {t}: {n_atoms:7d} atoms, {n_pairs / n_atoms:6.1f} pairs/atom | "
                  f"best {best / n_atoms * 1e6:6.2f} µs/atom {best / n_pairs * 1e9:5.1f} ns/pair | "
                  f"median {med / n_atoms * 1e6:6.2f} µs/atom {med / n_pairs * 1e9:5.1f} ns/pair")
    t = max(threads)
    if ("b", t) in medians and ("c", t) in medians:
        print(f"large / small per atom ({t} threads): {medians['c', t] / medians['b', t]:.2f}")
        print(f"RESULT nl_small_us_per_atom={medians['b', t]:.2f} nl_large_us_per_atom={medians['c', t]:.2f}")


if __name__ == "__main__":
    main()
