"""``python -m anncli.compile``: compile every Numba kernel once, before the first real run.

anncli's kernels are compiled by Numba the first time they run and cached on disk
(``__pycache__`` next to the modules, or ``NUMBA_CACHE_DIR``); later runs load them in
milliseconds.  The first run of ``anncli generate``/``train``/``predict`` therefore spends
30-60 s (2 cores) compiling.  Set-up scripts (``scripts/setup_env.sh``) call this module so
that the cost is paid once, announced as what it is, before anything is timed.

It runs generate (Chebyshev and Behler2011 descriptors), train (energies, and forces: the
derivative kernels) and predict (forces, stress, extrapolation check) on a few tiny Cu-Au cells in a
temporary directory: the same calls, hence the same kernel signatures, as real runs. The two
halves (generate and training; prediction with an untrained model, a committee and the ASE
calculator) run in two processes, as Numba compiles in one thread per process.
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

logger = logging.getLogger("anncli.compile")  # also when run as __main__

__all__ = ["compile_kernels", "main"]

_GENERATE = """\
structures: ["data/*.xsf"]
output: {output}
overwrite: true
reference_energies: {{Cu: 0.0, Au: 0.0}}
descriptors:
  default: {descriptor}
"""
_CHEBYSHEV = "{type: chebyshev, radial: {cutoff: 4.0, order: 4}, angular: {cutoff: 3.0, order: 2}}"
_BEHLER = ("{type: behler2011, functions: ["
           "{G: 1, type2: Cu, Rc: 4.0}, {G: 2, type2: Au, eta: 0.05, Rs: 0.0, Rc: 4.0}, "
           "{G: 3, type2: Cu, kappa: 1.0, Rc: 4.0}, "
           "{G: 4, type2: Cu, type3: Au, eta: 0.005, lambda: 1, zeta: 2, Rc: 4.0}, "
           "{G: 5, type2: Au, type3: Au, eta: 0.005, lambda: -1, zeta: 1, Rc: 4.0}]}")
_TRAIN = """\
trainset: {trainset}
output: {output}
overwrite: true
epochs: 2
validation_fraction: 0.25
networks: {{default: {{hidden: [4], activation: tanh}}}}
force_weight: {force_weight}
checkpoint_every: 0
"""
_PREDICT = """\
model: {model}
structures: ["data/*.xsf"]
print: none
output: {{extxyz: null, csv: null}}
"""


def _write_structures(directory: Path, n: int = 8, seed: int = 0) -> None:
    """A few rattled 8-atom Cu-Au cells with made-up energies and forces, as XSF files."""
    from anncli.io import write_structures
    from anncli.structure import Structure

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    a = 3.8
    base = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]], dtype=float)
    frac = np.concatenate([base * [1, 1, 0.5], base * [1, 1, 0.5] + [0, 0, 0.5]])
    for k in range(n):
        cell = np.diag([a, a, 2 * a]) * rng.uniform(0.98, 1.02)
        positions = frac @ cell + rng.normal(scale=0.05, size=(8, 3))
        symbols = list(rng.choice(["Cu", "Au"], size=8))
        symbols[0], symbols[1] = "Cu", "Au"
        s = Structure(symbols, positions, cell, np.array([True, True, True]),
                      energy=float(-3.0 * 8 + rng.normal(scale=0.1)),
                      forces=rng.normal(scale=0.3, size=(8, 3)))
        write_structures(directory / f"s{k:02d}.xsf", s)


DESCRIPTORS = {"chebyshev": ("cheb", _CHEBYSHEV), "behler2011": ("behler", _BEHLER)}
#: The two halves of the work, run in parallel processes by :func:`main` (Numba compiles in one
#: thread per process; the kernels both halves need are compiled twice at the same time, and
#: Numba's cache writes are atomic).
PARTS = ("fit", "use")


def compile_kernels(workdir: str | Path | None = None, descriptors: tuple[str, ...] = tuple(DESCRIPTORS),
                    parts: tuple[str, ...] = PARTS) -> dict:
    """Run every kernel once so that Numba compiles (or loads) and caches it.

    Parameters
    ----------
    workdir : path, optional
        Directory for the tiny data set and outputs (default: a temporary directory,
        removed afterwards).
    descriptors : tuple of str
        Descriptor families whose kernels are compiled (keys of :data:`DESCRIPTORS`); the
        neighbour list, network and training kernels are always compiled.
    parts : tuple of str
        ``fit``: generate and force training; ``use``: generate, energy training, predict, a
        committee and the ASE calculator.  :func:`main` runs the two in parallel processes.

    Returns
    -------
    dict
        ``seconds`` (wall time), ``compile_seconds`` (time Numba spent compiling, 0 when
        every kernel came from the cache).
    """
    from anncli.config.generate import GenerateConfig
    from anncli.config.loader import load_config
    from anncli.config.predict import PredictConfig
    from anncli.config.train import TrainConfig
    from anncli.log import compile_seconds, watch_compilation
    from anncli.workflows import generate, predict, train

    watch_compilation()
    t0, c0 = time.perf_counter(), compile_seconds()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        _write_structures(tmp / "data")
        for name, descriptor in (DESCRIPTORS[d] for d in descriptors):
            if "fit" in parts:
                gen = tmp / f"generate-{name}.yaml"
                gen.write_text(_GENERATE.format(output=f"{name}.h5", descriptor=descriptor))
                generate.run(load_config(gen, GenerateConfig), config_path=gen)
                for force_weight in (0.0, 0.01):
                    cfg = tmp / f"train-{name}-{force_weight}.yaml"
                    cfg.write_text(_TRAIN.format(trainset=f"{name}.h5", output=f"model-{name}-{force_weight}.h5",
                                                 force_weight=force_weight))
                    train.run(load_config(cfg, TrainConfig), config_path=cfg)
            if "use" in parts:  # an untrained model: the prediction kernels do not wait for training
                model = _untrained_model(tmp / f"untrained-{name}.h5", descriptor)
                cfg = tmp / f"predict-{name}.yaml"
                cfg.write_text(_PREDICT.format(model=model.name))
                predict.run(load_config(cfg, PredictConfig), config_path=cfg, stdout=sys.stdout)
                _committee_and_md(model, tmp / "data" / "s00.xsf")
    return {"seconds": time.perf_counter() - t0, "compile_seconds": compile_seconds() - c0}


def _untrained_model(path: Path, descriptor: str) -> Path:
    """A model file with the descriptor ``descriptor`` (YAML flow text) and random 4-node networks."""
    import json

    import yaml

    from anncli.network.mlp import Network, init_network_params
    from anncli.potential.model_file import Model, save_model
    from anncli.workflows.generate import build_setups

    species = ["Cu", "Au"]
    setups = build_setups({"default": yaml.safe_load(descriptor)}, species)
    rng = np.random.default_rng(0)
    nets, stats = {}, {}
    for sym in species:
        n_f = setups[sym].n_features
        nets[sym] = Network([n_f, 4, 1], ["tanh", "linear"])
        init_network_params(nets[sym], rng)
        stats[sym] = (np.zeros(n_f), np.ones(n_f), np.full(n_f, -1e3), np.full(n_f, 1e3))
    save_model(path, Model(
        species=species, reference_energies=np.zeros(2),
        descriptors={s: json.dumps(setups[s].to_dict()) for s in species},
        feature_mean={s: v[0] for s, v in stats.items()}, feature_std={s: v[1] for s, v in stats.items()},
        feature_min={s: v[2] for s, v in stats.items()}, feature_max={s: v[3] for s, v in stats.items()},
        networks=nets, energy_shift=0.0, energy_scale=1.0, metadata={"source": "anncli.compile"}))
    return path


def _committee_and_md(model: Path, structure: Path) -> None:
    """The kernels of a committee's per-member forces and of the ASE calculator's Verlet list."""
    from anncli.calculator import ANNCalculator
    from anncli.io import read_structures
    from anncli.potential.evaluate import load_potential

    s = read_structures(structure)[0]
    load_potential([model, model]).evaluate([s], committee_forces=True, extrapolation=False)
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(model, extrapolation=False, skin=0.5)
    atoms.get_forces()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m anncli.compile [-q] [--descriptors LIST]``; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m anncli.compile", description=__doc__.splitlines()[0])
    ap.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    ap.add_argument("--descriptors", default=",".join(DESCRIPTORS),
                    help="descriptor families to compile, comma-separated (default: all: %(default)s); "
                         "the others compile on first use")
    ap.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # one half, for the parallel run
    args = ap.parse_args(argv)
    chosen = tuple(d.strip() for d in args.descriptors.split(",") if d.strip())
    unknown = [d for d in chosen if d not in DESCRIPTORS]
    if unknown or not chosen:
        ap.error(f"--descriptors: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(DESCRIPTORS)}")
    from anncli.cli import set_openmp_wait_policy
    from anncli.log import setup_logging

    started = time.perf_counter()
    set_openmp_wait_policy()
    root = setup_logging(-1 if args.quiet else 0)
    for handler in root.handlers:  # the stages' messages (and extrapolation warnings) on the tiny set are noise
        handler.addFilter(lambda r: r.levelno >= logging.ERROR or r.name in ("anncli.kernels", logger.name))
    helper = None
    parts = (args.part,) if args.part else PARTS
    if args.part is None and (os.cpu_count() or 1) >= 2:  # the "use" half in a second process
        helper = subprocess.Popen([sys.executable, "-m", "anncli.compile", "-q", "--part", "use",
                                   "--descriptors", ",".join(chosen)])
        parts = ("fit",)
    try:
        result = compile_kernels(descriptors=chosen, parts=parts)
    finally:
        status = helper.wait() if helper is not None else 0
    if status != 0:
        logger.error("compiling the prediction kernels failed (exit status %d)", status)
        return 1
    if helper is not None:  # the wall time of both halves, and whether either compiled anything
        result["seconds"] = time.perf_counter() - started
    if result["compile_seconds"] > 0:
        logger.info("Numba kernels compiled and cached in %.0f s; later runs load them in a moment",
                    result["seconds"])
    else:
        logger.info("Numba kernels already compiled (loaded from the cache in %.1f s)", result["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
