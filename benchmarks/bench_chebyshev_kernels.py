"""Benchmark: neighbour list + Chebyshev features over TiO2-1000 (all atoms, one batched call).

Usage::

    .venv/bin/python benchmarks/bench_chebyshev_kernels.py [--data DIR] [--threads 1 2] [--repeat 3]
                                                             [--derivatives] [--big N]

Each thread count runs in a fresh subprocess (``NUMBA_NUM_THREADS`` must be set before
Numba starts).  Prints atoms/s of the best of ``--repeat`` runs after a warm-up.
``--big N`` also times a single periodic cell of about N atoms (TiO2 supercell).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "TiO2-1000" / "xsf"
SPECIES = ["Ti", "O"]
RUN_CPU: list[float] = []  # process CPU time of every run_once call (all threads)


def load(data: Path):
    files = sorted(data.glob("*.xsf"))
    from anncli.io import read_xsf

    structs = [(s.symbols, s.positions, s.cell) for s in map(read_xsf, files)]
    offsets = np.zeros(len(structs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s[0]) for s in structs])
    positions = np.concatenate([s[1] for s in structs])
    cells = np.array([s[2] for s in structs])
    sym = np.array([SPECIES.index(x) for s in structs for x in s[0]], dtype=np.int32)
    return positions, cells, offsets, sym


def run_once(positions, cells, offsets, sym, derivatives: bool):
    from anncli.descriptors.batch import featurize_batch
    from anncli.descriptors.chebyshev import ChebyshevSetup

    setups = {s: ChebyshevSetup(s, SPECIES, 8.0, 16, 6.5, 4) for s in SPECIES}
    pbcs = np.ones((len(cells), 3), bool)
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = featurize_batch(positions, cells, pbcs, offsets, sym, SPECIES, setups, derivatives=derivatives)
    t1 = time.perf_counter()
    RUN_CPU.append(time.process_time() - c0)
    return t1 - t0, res


def worker(args) -> None:
    import numba

    from anncli.descriptors.neighbors import build_neighbor_list

    positions, cells, offsets, sym = load(Path(args.data))
    n = len(positions)
    run_once(positions[: offsets[5]], cells[:5], offsets[:6], sym[: offsets[5]], args.derivatives)  # compile
    best = np.inf
    best_nl = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        build_neighbor_list(positions, cells, np.ones((len(cells), 3), bool), offsets, 8.0)
        best_nl = min(best_nl, time.perf_counter() - t0)
        dt, res = run_once(positions, cells, offsets, sym, args.derivatives)
        best = min(best, dt)
    what = "features+derivatives" if args.derivatives else "features"
    cpu = min(RUN_CPU[1:])
    print(
        f"threads={numba.get_num_threads()}  {len(cells)} structures, {n} atoms, {res.nl.n_pairs} pairs: "
        f"neighbour list {best_nl:.3f} s; neighbour list + {what} {best:.3f} s wall = {n / best:,.0f} atoms/s "
        f"(CPU time of all threads {cpu:.3f} s = {n / cpu:,.0f} atoms/s per busy core; "
        f"load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    # forces path: pair gradients of all atoms for a random dE/dG (the neighbour list reused)
    from anncli.descriptors.batch import env_types_for
    from anncli.descriptors.chebyshev import ChebyshevSetup

    best_pg = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for t, name in enumerate(SPECIES):
            setup = ChebyshevSetup(name, SPECIES, 8.0, 16, 6.5, 4)
            centers = np.flatnonzero(sym == t)
            env = env_types_for(setup, SPECIES, sym)
            setup.pair_gradients(res.nl, centers, env, np.ones((len(centers), setup.n_features)))
        best_pg = min(best_pg, time.perf_counter() - t0)
    print(
        f"threads={numba.get_num_threads()}  pair_gradients (forces path, neighbour list given): "
        f"{best_pg:.3f} s = {n / best_pg:,.0f} atoms/s",
        flush=True,
    )
    if args.big:
        # one large periodic cell: replicate the largest structure
        s = int(np.argmax(np.diff(offsets)))
        p0, c0 = positions[offsets[s]:offsets[s + 1]], cells[s]
        m = int(np.ceil((args.big / len(p0)) ** (1 / 3)))
        shifts = np.array([[i, j, k] for i in range(m) for j in range(m) for k in range(m)]) @ c0
        bp = (p0[None] + shifts[:, None]).reshape(-1, 3)
        bc = (c0 * m)[None]
        bo = np.array([0, len(bp)], dtype=np.int64)
        bs = np.tile(sym[offsets[s]:offsets[s + 1]], len(shifts))
        # warm-up: the first touch of ~1 GB of fresh memory is slow in a VM (not the kernel's cost)
        del res
        build_neighbor_list(bp, bc, np.ones((1, 3), bool), bo, 8.0)
        t0 = time.perf_counter()
        nl = build_neighbor_list(bp, bc, np.ones((1, 3), bool), bo, 8.0)
        t1 = time.perf_counter()
        del nl
        dt, _ = run_once(bp, bc, bo, bs, False)
        print(
            f"threads={numba.get_num_threads()}  one cell of {len(bp)} atoms: "
            f"neighbour list {t1 - t0:.3f} s; + features {dt:.3f} s = {len(bp) / dt:,.0f} atoms/s",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--derivatives", action="store_true")
    ap.add_argument("--big", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    for t in args.threads:
        env = dict(os.environ, NUMBA_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--worker", "--data", args.data, "--repeat", str(args.repeat),
               "--big", str(args.big)]
        if args.derivatives:
            cmd.append("--derivatives")
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
