"""``anncli active``: the active-learning loop (method.md §5) as one resumable command.

Iteration ``k`` (directory ``output_dir/iter_<k>``) runs these steps; each writes its output
atomically and is skipped on a rerun when its output exists, so a killed loop resumes where
it stopped (an interrupted training resumes from its checkpoints):

1. label — the initial structures (k = 0) or those selected in iteration k-1, computed with
   the reference method (:func:`anncli.labelling.label_structures`; the cache
   ``output_dir/label_work`` is shared by all iterations) -> ``labelled.extxyz``;
2. generate — features of these structures only -> ``new.h5``; appended to the previous
   training set (:func:`anncli.io.trainset_merge.merge_trainsets`) -> ``trainset.h5``;
3. train — the committee -> ``model/model.h5``: with ``warm_start`` (k > 0) every member starts
   from iteration k-1's (train's ``initial_model``, normalisation converted exactly) and the
   validation split is kept (:func:`warm_split`); otherwise from random weights with the same
   seed every iteration;
4. validate — errors on the fixed test set (``validate``'s workflow) -> ``validation/``;
5. explore — MD with the committee at every temperature (validate's MD stability test,
   frames kept) and/or the given candidate files;
6. select — committee spread above ``select.threshold`` or extrapolation grade above
   ``select.extrapolation``, farthest-point thinned to at most ``select.n`` ->
   ``candidates.csv``, ``selected.extxyz``;
7. ``state.json`` — the iteration's record (what was selected and why, errors, MD verdicts),
   written last: an iteration with it is complete.

The loop ends when no candidate is selectable (``stop.no_candidates``), every MD run is
stable (``stop.md_stable``) or after ``stop.max_iterations`` committees.  ``report.json``,
``report.md`` and ``progress.png`` are rewritten after every iteration, ``model.h5`` is the
last committee.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["run", "ActiveResult", "iteration_dir", "warm_split", "CANDIDATE_COLUMNS"]

#: Columns of iter_<k>/candidates.csv.
CANDIDATE_COLUMNS = ["index", "origin", "source", "frame", "n_atoms", "energy_std_per_atom_meV", "max_forces_std",
                     "extrapolation_grade", "score", "selectable", "selected_rank"]
STATE_FILE = "state.json"


@dataclass
class ActiveResult:
    """What :func:`run` did.

    Attributes
    ----------
    iterations : list of dict
        The record of every iteration (``state.json``), in order.
    stop_reason : str
    model : Path or None
        The last committee (``output_dir/model.h5``).
    report : dict
        report.json.
    exit_code : int
    """

    iterations: list = field(default_factory=list)
    stop_reason: str = ""
    model: Path | None = None
    report: dict = field(default_factory=dict)
    seconds: float = 0.0
    exit_code: int = 0


def iteration_dir(out_dir: Path, k: int) -> Path:
    """``<out_dir>/iter_<k>`` (three digits)."""
    return Path(out_dir) / f"iter_{k:03d}"


def _write_json(path: Path, data) -> None:
    from anncli.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, allow_nan=True)


def _read_files(entries: list[str], base_dir: Path, fmt, frames: str) -> tuple[list, list[str]]:
    from anncli.io import expand_sources
    from anncli.labelling.inputs import read_atoms

    files = expand_sources(list(entries), base_dir)
    return read_atoms(files, fmt, frames)


# ----------------------------------------------------------------------------- steps 1-3
def _label(config, it: Path, k: int, base_dir: Path, method) -> dict:
    """Step 1: label the structures of this iteration (cached); returns the label record."""
    from ase.io import read

    from anncli.labelling import label_structures
    from anncli.workflows.label import write_labelled

    out, record_path = it / "labelled.extxyz", it / "label.json"
    if out.is_file() and record_path.is_file():
        return json.loads(record_path.read_text(encoding="utf-8"))
    if k == 0:
        images, names = _read_files(config.initial, base_dir, config.format, config.frames)
        if not images:
            raise DataError("initial: no structures were read")
    else:
        src = iteration_dir(config.output_dir, k - 1) / "selected.extxyz"
        images = read(str(src), ":", format="extxyz")
        names = [f"iter_{k - 1:03d}/selected.extxyz@{i}" for i in range(len(images))]
    res = label_structures(images, method, Path(config.output_dir) / "label_work", workers=config.workers,
                           max_attempts=config.max_attempts, names=names, desc=f"label (iteration {k})")
    labelled = [a for a in res.labelled if a is not None]
    for a in labelled:
        a.info.pop("label_key", None)
    record = {"n_structures": len(images), "n_labelled": len(labelled), "computed": res.computed,
              "reused": res.reused, "failures": res.failures}
    if res.failures:
        logger.warning("active: iteration %d: %d structure(s) could not be labelled: %s", k, len(res.failures),
                       "; ".join(f"{f['structure']}: {f['error']}" for f in res.failures[:3]))
    if labelled:
        write_labelled(out, labelled)
    _write_json(record_path, record)
    return record


def _generate(config, it: Path, k: int) -> Path:
    """Step 2: features of the new structures (new.h5), appended to the previous training set."""
    from anncli.config.generate import GenerateConfig
    from anncli.io.trainset_merge import merge_trainsets
    from anncli.workflows import generate

    new, trainset = it / "new.h5", it / "trainset.h5"
    if trainset.is_file():
        return trainset
    if not new.is_file():
        gcfg = GenerateConfig.model_validate({
            "structures": [str(it / "labelled.extxyz")], "output": str(new), "overwrite": True,
            "reference_energies": dict(config.reference_energies),
            "descriptors": {key: d.model_dump(by_alias=True, exclude_none=True) for key, d in config.descriptors.items()},
            **({"baseline": config.baseline.model_dump()} if config.baseline is not None else {}),
        })
        generate.run(gcfg, input_text=f"# anncli active, iteration {k}\n")
    parts = [new] if k == 0 else [iteration_dir(config.output_dir, k - 1) / "trainset.h5", new]
    return merge_trainsets(parts, trainset, overwrite=True)


def warm_split(config, k: int, trainset: Path) -> list[int]:
    """Validation structures of iteration ``k`` > 0 with ``warm_start``: iteration k-1's, and new ones.

    The warm-started members were trained on iteration k-1's training structures: none of them
    may validate the new committee (its best epoch and early stopping would favour the start).
    The merged training set keeps the old rows first, so iteration k-1's validation indices
    (``model/member_0/split.csv``) stay valid.  Of the new rows, as many as bring the validation
    set to ``validation_fraction`` of the whole are drawn at random (seeded by ``seed`` and k),
    but at least one when two or more are new: a validation set of old structures only, on
    which the start was chosen as the best epoch, would keep the start and ignore the new data.

    Returns
    -------
    list of int
        Sorted 0-based row indices of ``trainset``.
    """
    from anncli.io.trainset import open_trainset
    from anncli.training.split import read_validation_file

    prev = iteration_dir(config.output_dir, k - 1)
    old_val = read_validation_file(prev / "model" / "member_0" / "split.csv")
    with open_trainset(prev / "trainset.h5") as f:
        n_old = int(f["structures/n_atoms"].shape[0])
    with open_trainset(trainset) as f:
        n_all = int(f["structures/n_atoms"].shape[0])
    new = np.arange(n_old, n_all)
    n_val = max(int(round(config.train.validation_fraction * n_all)) - len(old_val), 1 if len(new) >= 2 else 0)
    n_val = min(n_val, max(len(new) - 1, 0))
    pick = np.random.default_rng([config.train.seed, k, 2]).choice(new, size=n_val, replace=False)
    return sorted(int(i) for i in np.concatenate([old_val, pick]))


def _train(config, it: Path, k: int, trainset: Path, config_path: Path | None):
    """Step 3: the committee (resumes from its checkpoints after a kill)."""
    from anncli.workflows import train

    model_dir = it / "model"
    model = model_dir / "model.h5"
    model_dir.mkdir(parents=True, exist_ok=True)
    update = {"trainset": trainset, "output": model, "output_dir": model_dir, "overwrite": True}
    if config.warm_start and k > 0:
        update["initial_model"] = iteration_dir(config.output_dir, k - 1) / "model" / "model.h5"
        if config.train.validation_set is None:
            update["validation_set"] = warm_split(config, k, trainset)
    tcfg = config.train.model_copy(update=update)
    done = it / "train.json"
    if model.is_file() and done.is_file():
        return model, json.loads(done.read_text(encoding="utf-8"))
    resume = (model_dir / "member_0" / train.CHECKPOINT_FILE).is_file()
    t0, c0 = time.perf_counter(), time.process_time()
    res = train.run(tcfg, config_path=config_path, resume=resume)
    record = {"val_rmse_meV": res.val_rmse, "train_rmse_meV": res.train_rmse, "epochs": res.epochs,
              "members": config.train.committee.members,
              "initial_model": None if tcfg.initial_model is None else str(tcfg.initial_model),
              "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    _write_json(done, record)
    return model, record


def _validate(config, it: Path, model: Path, trainset: Path, config_path: Path | None) -> dict | None:
    """Step 4: errors of the committee on the fixed test set."""
    if config.test is None:
        return None
    from anncli.config.validate import ValidateConfig
    from anncli.workflows import validate

    vcfg = ValidateConfig.model_validate({
        "model": str(model), "structures": list(config.test), "format": config.test_format,
        "output_dir": str(it / "validation"), "trainset": str(trainset), "plots": config.plots,
    })
    res = validate.run(vcfg, config_path=config_path, stdout=io.StringIO())
    st = res.report["statistics"]
    out = {"n_structures": res.n_structures,
           "energy_rmse_meV_atom": st["energy"]["per_atom_meV"]["rmse"],
           "energy_mae_meV_atom": st["energy"]["per_atom_meV"]["mae"]}
    if st.get("forces"):
        out["force_rmse"] = st["forces"]["component"]["rmse"]
    if st.get("committee"):
        out["energy_spread_error_rank_correlation"] = st["committee"]["energy_spread_error_rank_correlation"]
    return out


# ----------------------------------------------------------------------------- steps 5-6
def _explore_md(config, it: Path, k: int, potential, base_dir: Path) -> tuple[list[dict], list]:
    """Step 5a: the MD runs; their verdicts and (``md.candidates``) their frames."""
    from anncli.io import check_min_distance
    from anncli.structure import Structure
    from anncli.validation.md import MDThresholds, run_md_test
    from anncli.workflows.validate import csv_text

    md = config.explore.md
    images, names = _read_files(md.structures, base_dir, md.format, md.frames)
    if not images:
        raise DataError("explore.md.structures: no start structures were read")
    starts = [Structure.from_ase(a, source=n) for a, n in zip(images, names)]
    for s in starts:
        potential.species_index(s.symbols, s.label)  # a species the model lacks: named
        check_min_distance(s, 1e-6)
    th = MDThresholds(min_distance=md.min_distance, max_drift=md.max_drift, max_forces_std=md.max_forces_std)
    (it / "md").mkdir(parents=True, exist_ok=True)
    runs, frames = [], []
    for s in starts:
        for temp in md.temperatures:
            j = len(runs)
            label = f"{Path(s.source).name or s.label} @ {temp:g} K"
            r = run_md_test(potential, s, temperature=temp, steps=md.steps, timestep=md.timestep,
                            ensemble=md.ensemble, friction=md.friction, interval=md.interval,
                            seed=md.seed + 1000 * k + j, thresholds=th, label=label, keep_frames=md.candidates)
            cols = list(dict.fromkeys(key for rec in r.records for key in rec))
            from anncli.io.atomic import atomic_open

            with atomic_open(it / "md" / f"md_{j:02d}.csv", "w", newline="") as fh:
                fh.write(csv_text(cols, [[rec.get(c, "") for c in cols] for rec in r.records]))
            frames.extend(r.frames)
            runs.append({"run": j, "structure": s.source, "temperature": temp, "failed": r.failed,
                         "failure": r.failure, "steps_done": r.records[-1]["step"], "steps": md.steps,
                         "min_distance": min(rec["min_distance"] for rec in r.records),
                         "max_forces_std": max((rec.get("max_forces_std", float("nan")) for rec in r.records),
                                               default=None),
                         "csv": f"md/md_{j:02d}.csv"})
    return runs, frames


def _labelled_keys(out_dir: Path, k: int) -> set[str]:
    """Keys of every structure labelled (or tried) in iterations 0..k."""
    from ase.io import read

    from anncli.labelling import structure_key

    keys: set[str] = set()
    for j in range(k + 1):
        it = iteration_dir(out_dir, j)
        if (it / "labelled.extxyz").is_file():
            keys.update(structure_key(a) for a in read(str(it / "labelled.extxyz"), ":", format="extxyz"))
        if (it / "label.json").is_file():
            keys.update(f["key"] for f in json.loads((it / "label.json").read_text())["failures"])
    return keys


def _select(config, it: Path, k: int, potential, frames: list, base_dir: Path) -> dict:
    """Step 6: score the candidates, select at most n, write candidates.csv and selected.extxyz."""
    from ase.io import write

    from anncli.io.atomic import atomic_open
    from anncli.labelling import structure_key
    from anncli.validation.candidates import potential_fingerprints
    from anncli.validation.selection import select_candidates
    from anncli.workflows.validate import csv_text

    sel, ex = config.select, config.explore
    cands = [(a, "md", a.info.get("md_run", ""), int(a.info.get("step", 0))) for a in frames]
    if ex.structures is not None:
        images, names = _read_files(ex.structures, base_dir, ex.format, ex.frames)
        cands += [(a, "file", n, i) for i, (a, n) in enumerate(zip(images, names))]
    known = _labelled_keys(config.output_dir, k)
    cands = [c for c in cands if structure_key(c[0]) not in known]
    rows: list[dict] = []
    chosen = np.zeros(0, dtype=np.int64)
    if cands:
        from anncli.structure import Structure

        atoms = [Structure.from_ase(c[0], source=str(c[2]), frame=c[3]) for c in cands]
        for s in atoms:
            potential.species_index(s.symbols, s.label)  # a species the model lacks: named
        preds, _ = potential.evaluate(atoms, forces=True, stress=False, extrapolation=True, committee_forces=True)
        e_std = np.array([1000.0 * p.energy_std / s.n_atoms for p, s in zip(preds, atoms)])
        f_std = np.array([float(p.forces_std.max()) for p in preds])
        grade = np.array([float(p.extrapolation_grade) for p in preds])
        score = f_std if sel.rank_by == "force_spread" else e_std
        ok = score > sel.threshold
        if sel.extrapolation is not None:
            ok |= grade > sel.extrapolation
        prints = potential_fingerprints(potential, atoms) if sel.diverse else None
        chosen = select_candidates(np.where(ok, score, -np.inf), sel.n, prints, threshold=-np.inf, pool=sel.pool)
        rank = {int(i): r + 1 for r, i in enumerate(chosen)}
        for i, (a, origin, src, frame) in enumerate(cands):
            rows.append({"index": i, "origin": origin, "source": src, "frame": frame, "n_atoms": len(a),
                         "energy_std_per_atom_meV": float(e_std[i]), "max_forces_std": float(f_std[i]),
                         "extrapolation_grade": float(grade[i]), "score": float(score[i]),
                         "selectable": bool(ok[i]), "selected_rank": rank.get(i, "")})
    with atomic_open(it / "candidates.csv", "w", newline="") as fh:
        fh.write(csv_text(CANDIDATE_COLUMNS, [[r[c] for c in CANDIDATE_COLUMNS] for r in rows]))
    buf = io.StringIO()
    selected = []
    for r, i in enumerate(chosen):
        row = rows[int(i)]
        why = []
        if row["score"] > sel.threshold:
            why.append(f"{sel.rank_by} {row['score']:.4g} > {sel.threshold:g}")
        if sel.extrapolation is not None and row["extrapolation_grade"] > sel.extrapolation:
            why.append(f"extrapolation grade {row['extrapolation_grade']:.3g} > {sel.extrapolation:g}")
        selected.append({"rank": r + 1, **{c: row[c] for c in ("index", "origin", "source", "frame", "score",
                                                             "extrapolation_grade")}, "why": "; ".join(why)})
        a = cands[int(i)][0].copy()
        a.calc = None
        a.info.update({"selected_rank": r + 1, "score": row["score"], "origin": row["origin"],
                       "candidate_source": str(row["source"])})
        write(buf, a, format="extxyz")
    with atomic_open(it / "selected.extxyz", "w", encoding="utf-8") as fh:
        fh.write(buf.getvalue())
    n_ok = sum(r["selectable"] for r in rows)
    logger.info("active: iteration %d: %d candidates, %d selectable, %d selected", k, len(rows), n_ok, len(chosen))
    return {"n_candidates": len(rows), "n_md_frames": sum(c[1] == "md" for c in cands), "n_selectable": n_ok,
            "n_selected": len(selected), "rank_by": sel.rank_by, "threshold": sel.threshold,
            "extrapolation_threshold": sel.extrapolation,
            "max_score": float(max((r["score"] for r in rows), default=float("nan"))),
            "selected": selected}


# ----------------------------------------------------------------------------- the loop
def _iteration(config, k: int, base_dir: Path, config_path: Path | None, method) -> dict:
    from anncli.potential.evaluate import load_potential

    t0 = time.perf_counter()
    it = iteration_dir(config.output_dir, k)
    it.mkdir(parents=True, exist_ok=True)
    logger.info("active: iteration %d in %s", k, it)
    label = _label(config, it, k, base_dir, method)
    if label["n_labelled"] == 0:
        if k == 0:
            raise DataError("initial: none of the initial structures could be labelled; see "
                            f"{Path(config.output_dir) / 'label_work' / 'failures.csv'}")
        return {"iteration": k, "label": label, "stop": "none of the selected structures could be labelled"}
    trainset = _generate(config, it, k)
    from anncli.io.trainset import open_trainset

    with open_trainset(trainset) as f:
        n_train = int(f["structures/n_atoms"].shape[0])
    model, train = _train(config, it, k, trainset, config_path)
    test = _validate(config, it, model, trainset, config_path)
    potential = load_potential(str(model), extrapolation_tolerance=1e-6)
    md_runs, frames = ([], []) if config.explore.md is None else _explore_md(config, it, k, potential, base_dir)
    select = _select(config, it, k, potential, frames, base_dir)
    record = {"iteration": k, "n_trainset": n_train, "n_new": label["n_labelled"], "label": label, "train": train,
              "test": test, "md": {"runs": md_runs, "n_failed": sum(r["failed"] for r in md_runs),
                                   "stable": bool(md_runs) and not any(r["failed"] for r in md_runs)},
              "select": select, "stop": None}
    st = config.stop
    if config.stop.no_candidates and select["n_selected"] == 0:
        record["stop"] = "no candidate above the thresholds"
    elif st.md_stable and record["md"]["stable"]:
        record["stop"] = "every MD run is stable"
    elif k + 1 >= st.max_iterations:
        record["stop"] = f"max_iterations ({st.max_iterations}) reached"
    record["seconds"] = time.perf_counter() - t0
    return record


def _preflight(config, base_dir: Path) -> None:
    """Every structure file of the input read once before anything is computed: a species that
    ``reference_energies`` lacks is named with its file (instead of failing after training)."""
    known = set(config.reference_energies)
    groups = [("initial", config.initial, config.format, config.frames)]
    if config.explore.md is not None:
        md = config.explore.md
        groups.append(("explore.md.structures", md.structures, md.format, md.frames))
    if config.explore.structures is not None:
        ex = config.explore
        groups.append(("explore.structures", ex.structures, ex.format, ex.frames))
    if config.test is not None:
        groups.append(("test", config.test, config.test_format, ":"))
    for key, entries, fmt, frames in groups:
        images, names = _read_files(entries, base_dir, fmt, frames)
        if not images:
            raise DataError(f"{key}: no structures were read from {', '.join(entries)}")
        for a, name in zip(images, names):
            unknown = sorted(set(a.get_chemical_symbols()) - known)
            if unknown:
                raise DataError(f"{key}: {name} has species {', '.join(unknown)}, which reference_energies and the "
                                f"descriptors do not cover (they have {', '.join(config.reference_energies)})")


def _final(record: dict) -> bool:
    """The record ends the loop whatever max_iterations says (a larger one continues a loop that hit it)."""
    stop = record.get("stop")
    return stop is not None and not stop.startswith("max_iterations")


def _completed(out_dir: Path) -> list[dict]:
    records = []
    k = 0
    while (iteration_dir(out_dir, k) / STATE_FILE).is_file():
        records.append(json.loads((iteration_dir(out_dir, k) / STATE_FILE).read_text(encoding="utf-8")))
        k += 1
    return records


def run(config, *, config_path: str | Path | None = None, stdout=None) -> ActiveResult:
    """Run (or resume) the active-learning loop.

    Parameters
    ----------
    config : ActiveConfig
    config_path : path, optional
        The input file (relative structure entries are relative to its directory).
    stdout : text stream, optional
        Where the per-iteration table goes (default ``sys.stdout``).

    Returns
    -------
    ActiveResult

    Raises
    ------
    ConfigError
        A reference calculator that is not installed, bad keyword arguments.
    DataError
        No initial structures, none of them labelled, a species the descriptors do not cover.
    """
    from anncli.labelling import method_from_config
    from anncli.workflows.active_report import summary_line, write_report

    t0 = time.perf_counter()
    stream = stdout if stdout is not None else sys.stdout
    base_dir = Path(config_path).resolve().parent if config_path is not None else Path.cwd()
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    method = method_from_config(config)  # a calculator that is not installed: named before anything runs
    if config.baseline is not None:
        from anncli.potential.baseline import resolve_calculator

        resolve_calculator(config.baseline.calculator, key="baseline.calculator")
    records = _completed(out_dir)
    if not records or not _final(records[-1]):
        _preflight(config, base_dir)
    if records:
        logger.info("active: %d iteration(s) done before in %s; resuming", len(records), out_dir)
    while not records or (not _final(records[-1]) and len(records) < config.stop.max_iterations):
        record = _iteration(config, len(records), base_dir, Path(config_path) if config_path else None, method)
        _write_json(iteration_dir(out_dir, record["iteration"]) / STATE_FILE, record)
        records.append(record)
        write_report(out_dir, records, config)
        stream.write(summary_line(record) + "\n")
    stop = records[-1].get("stop") or f"max_iterations ({config.stop.max_iterations}) reached"
    last = next((iteration_dir(out_dir, r["iteration"]) / "model" / "model.h5" for r in reversed(records)
                 if (iteration_dir(out_dir, r["iteration"]) / "model" / "model.h5").is_file()), None)
    model = None
    if last is not None:
        from anncli.io.atomic import atomic_path

        model = out_dir / "model.h5"
        with atomic_path(model) as tmp:
            shutil.copyfile(last, tmp)
    report = write_report(out_dir, records, config, stop=stop)
    stream.write(f"active: stopped after {len(records)} iteration(s): {stop}; model {model}\n")
    return ActiveResult(iterations=records, stop_reason=stop, model=model, report=report,
                        seconds=time.perf_counter() - t0)
