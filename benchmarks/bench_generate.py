"""Throughput of ``anncli generate`` on TiO2-1000 (../shared/data), as the issue measures it.

1. Chebyshev radial 8.0 Å / order 16, angular 6.5 Å / order 4 (44 features): the whole
   stage through the Python API (reading, neighbour search, features, HDF5 writing),
   after a warm-up run so that Numba's compilation is excluded.  ænet: ~1,600 atoms/s.
2. The 70-function Behler2011 set of the ænet manual (16 G2 + 54 G4, Rc 6.5 Å), given as
   ænet's own generate.in + .stp files.  ænet: 148 atoms/s.
3. The whole command ``anncli generate`` in a fresh process (start-up included) and its peak RSS.
4. Size scaling: features per atom of 1,000 cells of ~100 atoms vs one ~100,000-atom cell.

Ends with ``RESULT cheb_atoms_per_s=<n> behler_atoms_per_s=<n> cheb_command_s=<x> peak_rss_mb=<n>``.
Usage: python benchmarks/bench_generate.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BEHLER_STP = REPO / "tests" / "descriptors" / "data"
E_REF = {"Ti": -1604.604515075, "O": -432.503149303}

CHEB_YAML = """\
structures: [{xsf}/*.xsf]
output: {out}
overwrite: true
reference_energies: {{Ti: {ti}, O: {o}}}
descriptors:
  default:
    type: chebyshev
    radial: {{cutoff: 8.0, order: 16}}
    angular: {{cutoff: 6.5, order: 4}}
"""


def _generate_in(xsf: Path, out: Path, workdir: Path) -> Path:
    files = sorted(xsf.glob("*.xsf"))
    lines = ["OUTPUT " + str(out), "", "TYPES", "2", f"Ti {E_REF['Ti']}", f"O {E_REF['O']}", "",
             "SETUPS", f"Ti {BEHLER_STP / 'Ti.fingerprint.stp'}", f"O {BEHLER_STP / 'O.fingerprint.stp'}", "",
             "FILES", str(len(files))] + [str(f) for f in files]
    path = workdir / "generate.in"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_api(config_path: Path, repeat: int) -> tuple[float, int]:
    from anncli.config.generate import load_generate_config
    from anncli.workflows.generate import run

    best, n_atoms = np.inf, 0
    for _ in range(repeat + 1):  # the first run compiles / loads the Numba cache
        config = load_generate_config(config_path, overwrite=True)
        t0 = time.perf_counter()
        result = run(config, config_path=config_path)
        best = min(best, time.perf_counter() - t0)
        n_atoms = result.n_atoms
    return best, n_atoms


def _command(config_path: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of ``anncli -q generate`` in a fresh process."""
    code = (
        "import resource, subprocess, sys, time;"
        "t=time.perf_counter();"
        f"r=subprocess.run([sys.executable, '-m', 'anncli', '-q', 'generate', {str(config_path)!r}]);"
        "dt=time.perf_counter()-t;"
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[2] != "0":
        raise SystemExit("anncli generate failed")
    return float(out[0]), float(out[1])


def _scaling(xsf: Path) -> tuple[float, float]:
    """µs per atom for 1,000 ~96-atom cells and for one ~100,000-atom cell (Chebyshev 44)."""
    from anncli.descriptors import ChebyshevSetup
    from anncli.descriptors.batch import featurize_batch
    from anncli.io import read_xsf

    s = read_xsf(xsf / "structure0001.xsf")  # 24-atom rutile-like cell
    species = ["Ti", "O"]
    setups = {sp: ChebyshevSetup(sp, species, 8.0, 16, 6.5, 4) for sp in species}
    sym = np.array([species.index(x) for x in s.symbols], dtype=np.int32)

    def supercell(reps):
        shifts = np.array([[i, j, k] for i in range(reps[0]) for j in range(reps[1]) for k in range(reps[2])])
        pos = (s.positions[None, :, :] + (shifts @ s.cell)[:, None, :]).reshape(-1, 3)
        rng = np.random.default_rng(0)
        pos = pos + rng.normal(scale=0.02, size=pos.shape)
        return pos, s.cell * np.array(reps)[:, None], np.tile(sym, len(shifts))

    def per_atom(positions, cells, types, offsets, batch_atoms=8192):
        """Best of 3 of featurising in batches of whole structures of ~batch_atoms atoms."""
        pbcs = np.ones((len(cells), 3), bool)
        per_structure = max(1, batch_atoms // int(offsets[1] - offsets[0]))
        bounds = list(range(0, len(cells), per_structure)) + [len(cells)]
        best = np.inf
        for _ in range(4):  # the first round is a warm-up
            t0 = time.perf_counter()
            for a, b in zip(bounds[:-1], bounds[1:]):
                lo, hi = offsets[a], offsets[b]
                featurize_batch(positions[lo:hi], cells[a:b], pbcs[a:b], offsets[a:b + 1] - lo,
                                types[lo:hi], species, setups)
            best = min(best, time.perf_counter() - t0) if _ else np.inf
        return best / len(positions) * 1e6

    small_pos, small_cell, small_sym = supercell((1, 1, 4))  # 96 atoms
    n = 1000
    positions = np.concatenate([small_pos] * n)
    cells = np.repeat(small_cell[None], n, axis=0)
    offsets = np.arange(n + 1, dtype=np.int64) * len(small_pos)
    small = per_atom(positions, cells, np.tile(small_sym, n), offsets)
    big_pos, big_cell, big_sym = supercell((20, 14, 15))  # 4,200 cells of 24 atoms: 100,800 atoms
    big = per_atom(big_pos, big_cell[None], big_sym, np.array([0, len(big_pos)], dtype=np.int64))
    return small, big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    xsf = args.data / "TiO2-1000" / "xsf"
    if not xsf.is_dir():
        raise SystemExit(f"{xsf}: TiO2-1000 not found (give --data)")
    logging.basicConfig(level=logging.WARNING)
    import numba

    print(f"machine: {os.cpu_count()} cores, numba threads {numba.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cheb = tmp / "cheb.yaml"
        cheb.write_text(CHEB_YAML.format(xsf=xsf, out=tmp / "cheb.h5", ti=E_REF["Ti"], o=E_REF["O"]))
        t_cheb, n_atoms = _run_api(cheb, args.repeat)
        print(f"chebyshev 44: {n_atoms} atoms in {t_cheb:.3f} s = {n_atoms / t_cheb:,.0f} atoms/s "
              f"(ænet 1,600; file {os.path.getsize(tmp / 'cheb.h5') / 1e6:.1f} MB)")
        behler = _generate_in(xsf, tmp / "behler.h5", tmp)
        t_behler, _ = _run_api(behler, max(1, args.repeat - 2))
        print(f"behler 70:    {n_atoms} atoms in {t_behler:.3f} s = {n_atoms / t_behler:,.0f} atoms/s (ænet 148)")
        t_cmd, rss = _command(cheb)
        print(f"command (start-up included): {t_cmd:.2f} s, peak RSS {rss:.0f} MB")
    small, big = _scaling(xsf)
    print(f"size scaling: {small:.2f} µs/atom (1,000 × 96 atoms) vs {big:.2f} µs/atom (1 × 100,800 atoms), "
          f"ratio {big / small:.2f}")
    print(f"RESULT cheb_atoms_per_s={n_atoms / t_cheb:.0f} behler_atoms_per_s={n_atoms / t_behler:.0f} "
          f"cheb_command_s={t_cmd:.2f} peak_rss_mb={rss:.0f}")


if __name__ == "__main__":
    main()
