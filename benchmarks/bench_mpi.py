"""MPI against threads on TiO2-1000 (../shared/data): ``anncli generate``, ``predict`` and ``train``.

Each configuration runs the whole command (``mpiexec -n R anncli ...`` with
``NUMBA_NUM_THREADS=T``) ``--repeat`` times after one warm-up run, the best of the runs.
generate and predict: the stage's own seconds (the ``in X s`` of its last log line) on the
whole set minus those of the same command on its first ``SMALL_FILES`` files: the work of the
other structures, without what every process pays once whatever the set (Numba's JIT start and
kernel loading, ~0.5 s per process, opening files; on TiO2-1000 as much as the work itself).

* generate: Chebyshev radial 8.0 Å / order 16, angular 6.5 Å / order 4 (44 features), without
  derivatives, and with derivatives (force training) on the first 100 structures (the
  derivatives of all 1000 take ~4 GB).
* predict: a randomly initialised 44-15-15-1 model (as benchmarks/bench_predict.py), with forces.
* train: L-BFGS, 2x15 tanh, on the generated TiO2-1000 set (energies, ``TRAIN_EPOCHS`` epochs)
  and with forces (``force_weight: 0.1``) on the first 100 structures (the set generated with
  derivatives; train recomputes them); the time is the sum of the epochs' seconds of the
  learning curve (start-up, data loading and the derivatives excluded).

Configurations: 1 rank × 1 thread, 1 rank × 2 threads, 2 ranks × 1 thread.
``<stage>_speedup_2`` = t(1×1) / t(2×1); ``mpi_vs_threads`` = t(2×1) / t(1×2) for generate
(goals: speed-ups ≥ 1.7, MPI within 10 %: ≤ 1.10).

Needs mpi4py and mpiexec (``pip install "anncli[mpi]"``); run it with that environment's Python.
On a shared machine the numbers are noisy: look at the load (printed) first.

Ends with ``RESULT generate_speedup_2=<x> generate_derivatives_speedup_2=<x> predict_speedup_2=<x>
train_speedup_2=<x> train_forces_speedup_2=<x> mpi_vs_threads=<x>``.
Usage: python benchmarks/bench_mpi.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
E_REF = {"Ti": -1604.604515075, "O": -432.503149303}
CONFIGS = [(1, 1), (1, 2), (2, 1)]  # (ranks, threads per rank)
SMALL_FILES = 20  # the per-process fixed cost: the same command on this many files
DERIVATIVE_FILES = 100  # generate with derivatives: the first 100 structures (~2,100 atoms, ~0.4 GB)

GENERATE_YAML = """\
structures: {structures}
output: {out}
overwrite: true
derivatives: {derivatives}
reference_energies: {{Ti: {ti}, O: {o}}}
descriptors:
  default:
    type: chebyshev
    radial: {{cutoff: 8.0, order: 16}}
    angular: {{cutoff: 6.5, order: 4}}
"""

PREDICT_YAML = """\
model: {model}
structures: [{xsf}/*.xsf]
forces: true
print: none
output: {{csv: {out}}}
"""

# Epochs of a training run: the first few epochs of a process are slower (2 ranks: 20-45 ms
# against 4.5 ms later; one process: 18 against 9 ms; new memory pages and the allocator's
# warm-up, the same in both ranks at once); with 50 epochs they were a fifth of the sum.
TRAIN_EPOCHS = 200
TRAIN_YAML = """\
trainset: {trainset}
output: {out}/model.h5
overwrite: true
seed: 1
validation_fraction: 0.1
networks: {{default: {{hidden: [15, 15], activation: tanh}}}}
optimizer: {{method: lbfgs}}
epochs: {epochs}
force_weight: {force_weight}
checkpoint_every: 0
log_every: 1000
"""

STAGE_SECONDS = {
    "generate": re.compile(r"generate: wrote .* in ([0-9.]+) s"),
    "predict": re.compile(r"predict: \d+ structures, \d+ atoms in ([0-9.]+) s"),
}


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        raise SystemExit("no mpiexec: pip install \"anncli[mpi]\" into this Python's environment")
    return found


def run_stage(stage: str, config: Path, ranks: int, threads: int) -> float:
    """Seconds of one run of ``stage`` on ``ranks`` ranks with ``threads`` threads each."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "anncli", stage, str(config)]
    if ranks == 1:
        cmd = cmd[3:]  # one process, no launcher: the serial code path
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=config.parent, stdin=subprocess.DEVNULL)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-2000:]}")
    if stage == "train":  # the epochs' own seconds, from the learning curve
        with (config.parent / config.stem / "learning_curve.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        return sum(float(r["seconds"]) for r in rows[1:])
    found = STAGE_SECONDS[stage].findall(run.stderr)
    if not found:
        raise SystemExit(f"no timing line in the log of {' '.join(cmd)}:\n{run.stderr[-2000:]}")
    return float(found[-1])


def best(stage: str, config: Path, ranks: int, threads: int, repeat: int) -> float:
    run_stage(stage, config, ranks, threads)  # warm-up: kernel cache, file cache
    t = min(run_stage(stage, config, ranks, threads) for _ in range(repeat))
    small = config.with_name(config.stem + "_small.yaml")
    if small.exists():  # minus the fixed cost of a process (see the module docstring)
        t -= min(run_stage(stage, small, ranks, threads) for _ in range(repeat))
    return t


def build_model(xsf: Path, path: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))  # the random-model fixture lives with the tests
    from anncli.descriptors.chebyshev import ChebyshevSetup
    from anncli.io import read_structures
    from anncli.potential.model_file import save_model
    from synthetic_model import random_model

    sample = [s for f in sorted(xsf.glob("*.xsf"))[:100] for s in read_structures(f)]
    setups = {s: ChebyshevSetup(s, ["Ti", "O"], 8.0, 16, 6.5, 4) for s in ("Ti", "O")}
    model = random_model(setups, (15, 15), structures=sample, reference_energies=E_REF, seed=0)
    return save_model(path, model)


def yaml_value(path: Path, key: str) -> str:
    """The value of a top-level ``key: value`` line of one of the inputs written here."""
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stages", nargs="+", metavar="NAME",
                        default=["generate", "generate_derivatives", "predict", "train", "train_forces"],
                        help="Measure these only (the training sets are generated once if needed); "
                             "the RESULT fields of the others are n/a.")
    args = parser.parse_args()
    xsf = args.data / "TiO2-1000" / "xsf"
    if not xsf.is_dir():
        raise SystemExit(f"{xsf} not found (--data)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    times: dict[tuple[str, int, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        configs = {}
        files = sorted(str(f) for f in xsf.glob("*.xsf"))
        for name, derivatives, structures in (("generate", "false", [f"{xsf}/*.xsf"]),
                                              ("generate_derivatives", "true", files[:DERIVATIVE_FILES])):
            path = work / f"{name}.yaml"
            path.write_text(GENERATE_YAML.format(structures=json.dumps(structures), out=work / f"{name}.h5",
                                                 derivatives=derivatives, ti=E_REF["Ti"], o=E_REF["O"]))
            configs[name] = ("generate", path)
            path.with_name(f"{name}_small.yaml").write_text(GENERATE_YAML.format(
                structures=json.dumps(files[:SMALL_FILES]), out=work / f"{name}_small.h5",
                derivatives=derivatives, ti=E_REF["Ti"], o=E_REF["O"]))
        model = build_model(xsf, work / "model.h5")
        path = work / "predict.yaml"
        path.write_text(PREDICT_YAML.format(model=model, xsf=xsf, out=work / "predict.csv"))
        (work / "predict_small.yaml").write_text(PREDICT_YAML.format(model=model, xsf=xsf, out=work / "small.csv")
                                                 .replace(f"[{xsf}/*.xsf]", json.dumps(files[:SMALL_FILES])))
        configs["predict"] = ("predict", path)
        for name, trainset, force_weight in (("train", "generate.h5", 0.0),
                                             ("train_forces", "generate_derivatives.h5", 0.1)):
            path = work / f"{name}.yaml"
            (work / name).mkdir()
            path.write_text(TRAIN_YAML.format(trainset=work / trainset, out=work / name, epochs=TRAIN_EPOCHS,
                                              force_weight=force_weight))
            configs[name] = ("train", path)
        for name, (stage, path) in configs.items():
            if name not in args.stages:
                continue
            if stage == "train":
                source = Path(yaml_value(path, "trainset"))
                if not source.exists():  # the generate stage was not measured: make its set once
                    run_stage("generate", configs[source.stem][1], 1, 2)
            for ranks, threads in CONFIGS:
                t = times[name, ranks, threads] = best(stage, path, ranks, threads, args.repeat)
                print(f"{name:22s} {ranks} rank(s) x {threads} thread(s): {t:7.2f} s", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def speedup(name: str) -> str:
        if (name, 2, 1) not in times:
            return "n/a"
        return f"{times[name, 1, 1] / times[name, 2, 1]:.2f}"

    mpi_vs_threads = (f"{times['generate', 2, 1] / times['generate', 1, 2]:.2f}"
                      if ("generate", 2, 1) in times else "n/a")
    print(f"RESULT generate_speedup_2={speedup('generate')} "
          f"generate_derivatives_speedup_2={speedup('generate_derivatives')} "
          f"predict_speedup_2={speedup('predict')} train_speedup_2={speedup('train')} "
          f"train_forces_speedup_2={speedup('train_forces')} "
          f"mpi_vs_threads={mpi_vs_threads}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
