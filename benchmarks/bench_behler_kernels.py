"""Benchmark of the Behler2011 kernels on TiO2-1000 with the 70-function set of the ænet manual.

Usage::

    .venv/bin/python benchmarks/bench_behler_kernels.py [--data ../shared/data/TiO2-1000]
        [--threads 1 2] [--repeat 3] [--structures 1000]

Reports atoms/s (best of ``--repeat``) for: the neighbour list (6.5 Å), features only,
pair gradients (forces without storing dG; includes the feature values), and features with
stored per-pair derivatives (on chunks of 100 structures to bound memory).  ænet 2.0.4's
generate.x does 148 atoms/s with this set on the same machine kind (2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba
import numpy as np

from anncli.descriptors.neighbors import build_neighbor_list
from anncli.io.aenet_inputs import read_stp
from anncli.io.xsf import read_xsf

HERE = Path(__file__).resolve().parent
SETUPS = HERE.parent / "tests" / "descriptors" / "data"


def load(data: Path, n: int):
    files = sorted((data / "xsf").glob("*.xsf"))[:n]
    structs = [read_xsf(f) for f in files]
    pos = np.vstack([s.positions for s in structs])
    cells = np.array([s.cell if s.cell is not None else np.zeros((3, 3)) for s in structs])
    pbcs = np.array([s.pbc for s in structs])
    offsets = np.cumsum([0] + [len(s.symbols) for s in structs])
    symbols = np.array([x for s in structs for x in s.symbols])
    return pos, cells, pbcs, offsets, symbols


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "TiO2-1000")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--structures", type=int, default=1000)
    args = ap.parse_args()

    setups = {s: read_stp(SETUPS / f"{s}.fingerprint.stp") for s in ("Ti", "O")}
    pos, cells, pbcs, offsets, symbols = load(args.data, args.structures)
    n_atoms = len(symbols)
    env = setups["Ti"].env
    env_types = np.array([env.index(x) for x in symbols], dtype=np.int64)
    centers = {s: np.flatnonzero(symbols == s).astype(np.int64) for s in setups}
    cutoff = max(s.cutoff for s in setups.values())
    nl = build_neighbor_list(pos, cells, pbcs, offsets, cutoff)
    print(f"{len(offsets) - 1} structures, {n_atoms} atoms, {nl.n_pairs / n_atoms:.1f} "
          f"neighbours/atom within {cutoff} Å, {setups['Ti'].n_features} features")

    # warm-up (compile or load the cache)
    small = build_neighbor_list(pos[: offsets[2]], cells[:2], pbcs[:2], offsets[:3], cutoff)
    for s, setup in setups.items():
        c = centers[s][centers[s] < offsets[2]]
        setup.features(small, c, env_types)
        setup.features_and_derivatives(small, c, env_types)
        setup.pair_gradients(small, c, env_types, np.ones((len(c), setup.n_features)))

    rng = np.random.default_rng(0)
    w = {s: rng.normal(size=(len(centers[s]), setups[s].n_features)) for s in setups}
    chunk_ends = offsets[:: 100].tolist() + ([offsets[-1]] if (len(offsets) - 1) % 100 else [])
    previous = numba.get_num_threads()
    try:
        for nt in args.threads:
            numba.set_num_threads(nt)
            t_nl, _ = best(lambda: build_neighbor_list(pos, cells, pbcs, offsets, cutoff),
                           args.repeat)
            t_f, _ = best(lambda: [setups[s].features(nl, centers[s], env_types)
                                   for s in setups], args.repeat)
            t_g, _ = best(lambda: [setups[s].pair_gradients(nl, centers[s], env_types, w[s])
                                   for s in setups], args.repeat)

            def derivs():
                for a, b in zip(chunk_ends[:-1], chunk_ends[1:]):
                    for s, setup in setups.items():
                        c = centers[s][(centers[s] >= a) & (centers[s] < b)]
                        setup.features_and_derivatives(nl, c, env_types)

            t_d, _ = best(derivs, 1)
            print(f"threads={nt}: neighbour list {n_atoms / t_nl:9.0f} atoms/s | "
                  f"features {n_atoms / t_f:8.0f} atoms/s | "
                  f"features+pair gradients {n_atoms / t_g:8.0f} atoms/s | "
                  f"features+stored dG {n_atoms / t_d:8.0f} atoms/s")
    finally:
        numba.set_num_threads(previous)


if __name__ == "__main__":
    main()
