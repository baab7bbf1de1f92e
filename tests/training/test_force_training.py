"""Force training: forces from the training-side arrays, the loss gradient, and the plumbing.

A small Cu–Au training set is labelled with ASE's EMT calculator and written by the real
``generate`` workflow (no stored derivatives: train recomputes them); the forces the trainer computes are checked
against finite differences of the networks' energy (features recomputed at displaced
positions), and the gradient of the energy + force loss against finite differences of the loss.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emt_data import emt_structures
from anncli.io import write_xsf
from anncli.structure import Structure

SETUP = {"default": {"type": "chebyshev", "radial": {"cutoff": 4.5, "order": 5},
                     "angular": {"cutoff": 3.5, "order": 2}}}
SPECIES = ["Cu", "Au"]


@pytest.fixture(scope="module")
def force_set(tmp_path_factory):
    """A training set with forces; returns (directory, structures)."""
    from anncli.config.generate import load_generate_config
    from anncli.workflows import generate

    tmp = tmp_path_factory.mktemp("forces")
    structures = emt_structures(10)
    (tmp / "data").mkdir()
    for k, s in enumerate(structures):
        write_xsf(tmp / "data" / f"s{k:02d}.xsf", s)
    (tmp / "gen.yaml").write_text(textwrap.dedent("""\
        structures: [data/*.xsf]
        output: set.h5
        reference_energies: {Cu: 0.0, Au: 0.0}
        descriptors:
          default:
            type: chebyshev
            radial: {cutoff: 4.5, order: 5}
            angular: {cutoff: 3.5, order: 2}
        """))
    generate.run(load_generate_config(tmp / "gen.yaml"), config_path=tmp / "gen.yaml")
    return tmp, structures


def _prepared(path: Path, force_weight: float = 0.3, seed: int = 0, memory: str = "load"):
    from anncli.network import SpeciesNetworks
    from anncli.training.data import MemorySource, StreamSource, load_training_data
    from anncli.training.forces import ForceData
    from anncli.training.normalization import compute_normalization

    data = load_training_data(path, features=memory == "load")
    ids = np.arange(data.n_structures)
    norm = compute_normalization(data, ids)
    weights = np.linspace(0.5, 1.5, data.n_structures)
    forces = ForceData(data, norm, weights, force_weight, memory=memory)
    source = (MemorySource if memory == "load" else StreamSource)(data, norm, weights, forces=forces)
    nets = SpeciesNetworks(data.species, {s: [data.n_features[s], 6, 1] for s in data.species},
                           {s: ["tanh", "linear"] for s in data.species})
    nets.initialize(np.random.default_rng(seed))
    return data, norm, source, nets


def _energy(nets, norm, structure: Structure) -> float:
    """Model energy (eV, up to the constant shift) of one structure, features from scratch."""
    from anncli.descriptors.batch import featurize_batch
    from anncli.workflows.generate import build_setups

    setups = build_setups(SETUP, SPECIES)
    types = np.array([SPECIES.index(x) for x in structure.symbols], dtype=np.int32)
    res = featurize_batch(structure.positions, structure.cell[None], np.ones((1, 3), bool),
                          np.array([0, structure.n_atoms]), types, SPECIES, setups)
    total = 0.0
    for sym in SPECIES:
        sf = res.species[sym]
        if len(sf.centers):
            total += nets.nets[sym].forward(norm.apply(sym, sf.features)).sum()
    return total / norm.energy_scale


def test_training_forces_are_minus_the_energy_gradient(force_set):
    tmp, structures = force_set
    data, norm, source, nets = _prepared(tmp / "set.h5")
    k = 3
    batch = source.batch(np.array([k]))
    caches = {sym: nets.nets[sym].forward_curvature(x)[1] for sym, x in batch.x.items() if len(x)}
    forces = nets.forces(batch.forces, caches) / norm.energy_scale
    s = structures[k]
    h = 1e-5
    numeric = np.zeros_like(forces)
    for i in range(s.n_atoms):
        for a in range(3):
            plus, minus = s.positions.copy(), s.positions.copy()
            plus[i, a] += h
            minus[i, a] -= h
            e_plus = _energy(nets, norm, Structure(s.symbols, plus, s.cell, s.pbc))
            e_minus = _energy(nets, norm, Structure(s.symbols, minus, s.cell, s.pbc))
            numeric[i, a] = -(e_plus - e_minus) / (2 * h)
    np.testing.assert_allclose(forces, numeric, rtol=1e-5, atol=1e-7)
    assert np.abs(forces).max() > 1e-3  # not trivially zero
    # the reference forces are EMT's, in the batch's atom order
    np.testing.assert_allclose(batch.forces.reference / norm.energy_scale, s.forces, atol=1e-12)


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_loss_gradient_with_forces_matches_finite_differences(force_set, fraction):
    """Also with force_fraction < 1, where the curvature is computed for the drawn rows only."""
    tmp, _ = force_set
    data, norm, source, nets = _prepared(tmp / "set.h5")
    source.forces.fraction = fraction
    source.forces.draw(1, np.array([0, 5, 2, 7]))
    if fraction < 1:
        assert 0 < np.count_nonzero(source.forces.factor[[0, 5, 2, 7]]) < 4
    batch = source.batch(np.array([0, 5, 2, 7]))  # any order
    loss, grad, _ = nets.loss_grad(batch)
    no_force = source.batch(np.array([0, 5, 2, 7]))
    no_force.forces = None
    loss_e, grad_e, _ = nets.loss_grad(no_force)
    assert loss > loss_e * 1.01  # the force term counts
    p0 = nets.params.copy()
    h = 1e-6
    numeric = np.zeros_like(grad)
    for i in range(len(p0)):
        nets.params[i] = p0[i] + h
        lp = nets.loss_grad(batch)[0]
        nets.params[i] = p0[i] - h
        lm = nets.loss_grad(batch)[0]
        nets.params[i] = p0[i]
        numeric[i] = (lp - lm) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8 * np.abs(numeric).max())
    assert np.abs(grad - grad_e).max() > 1e-3 * np.abs(grad).max()


def test_force_weight_scales_the_force_term(force_set):
    tmp, _ = force_set
    ids = np.array([1, 4])
    losses = []
    for w in (0.1, 0.4):
        _, _, source, nets = _prepared(tmp / "set.h5", force_weight=w)
        losses.append(nets.loss_grad(source.batch(ids))[0])
    _, _, source, nets = _prepared(tmp / "set.h5")
    batch = source.batch(ids)
    batch.forces = None
    energy_only = nets.loss_grad(batch)[0]
    np.testing.assert_allclose(losses[1] - energy_only, 4 * (losses[0] - energy_only), rtol=1e-10)


def _train_yaml(tmp: Path, **extra) -> Path:
    keys = {"trainset": "set.h5", "output": "model.h5", "overwrite": "true", "seed": 3,
            "validation_fraction": 0.2, "networks": "{default: {hidden: [6], activation: tanh}}",
            "epochs": 30, "checkpoint_every": 0, **extra}
    path = tmp / "train.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in keys.items()))
    return path


def test_train_with_forces_lowers_the_force_error(force_set):
    """Same seed and epochs: the force-trained model predicts the training forces better."""
    from anncli.config.loader import load_config
    from anncli.config.train import TrainConfig
    from anncli.potential import load_potential
    from anncli.workflows import train

    tmp, structures = force_set
    errors, curve = {}, {}
    for w in (0.0, 0.5):
        path = _train_yaml(tmp, force_weight=w, output=f"model-{w}.h5", output_dir=f"out-{w}")
        train.run(load_config(path, TrainConfig), config_path=path)
        pot = load_potential(tmp / f"model-{w}.h5")
        predictions, _ = pot.evaluate(structures, stress=False)
        diff = [p.forces - s.forces for p, s in zip(predictions, structures)]
        errors[w] = float(np.sqrt(np.mean(np.concatenate(diff) ** 2)))
        with (tmp / f"out-{w}" / "learning_curve.csv").open() as fh:
            curve[w] = list(csv.DictReader(fh))
        if w:  # results.csv: per-structure force RMSE (eV/Å) of the saved (best) model
            with (tmp / f"out-{w}" / "results.csv").open() as fh:
                rows = {int(r["index"]): float(r["force_rmse"]) for r in csv.DictReader(fh)}
            expected = [float(np.sqrt(np.mean(d ** 2))) for d in diff]
            np.testing.assert_allclose([rows[k] for k in range(len(structures))], expected,
                                       rtol=0, atol=1e-6)  # written with 6 decimals
    assert errors[0.5] < 0.7 * errors[0.0]
    assert "val_force_rmse" not in curve[0.0][0]
    from anncli.io.h5info import describe

    text = describe(tmp / "model-0.5.h5")
    last = curve[0.5][-1]
    assert (f"force_weight 0.5 Å² (force RMSE at the last epoch {float(last['train_force_rmse']):.1f}"
            f" training / {float(last['val_force_rmse']):.1f} validation meV/Å)") in text
    assert "trained on energies and forces" not in describe(tmp / "model-0.0.h5")
    first, last = (float(curve[0.5][k]["train_force_rmse"]) for k in (0, -1))
    assert last < 0.7 * first


@pytest.mark.parametrize("extra, key", [
    ({"force_weight": 0.1, "optimizer": "{method: ekf}"}, "optimizer"),
    ({"force_weight": 0.1, "force_fraction": 0}, "force_fraction"),
    ({"force_weight": 0.1, "force_fraction": 1.5}, "force_fraction"),
])
def test_force_training_input_errors(force_set, extra, key, capsys):
    from anncli.cli import main

    tmp, _ = force_set
    path = _train_yaml(tmp, **extra)
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err


def test_old_files_with_stored_derivatives_train_the_same(force_set, tmp_path):
    """A file written with 'derivatives: true' (format of earlier versions) gives the same loss:
    the stored derivatives are not used, the recomputed ones equal them."""
    import h5py

    from anncli.config.generate import load_generate_config
    from anncli.workflows import generate

    tmp, _ = force_set
    text = (tmp / "gen.yaml").read_text().replace("output: set.h5", f"output: {tmp_path}/old.h5\nderivatives: true")
    (tmp / "gen-old.yaml").write_text(text)
    generate.run(load_generate_config(tmp / "gen-old.yaml"), config_path=tmp / "gen-old.yaml")
    ids = np.array([0, 3, 8])
    losses = []
    for path in (tmp / "set.h5", tmp_path / "old.h5"):
        _, _, source, nets = _prepared(path)
        losses.append(nets.loss_grad(source.batch(ids))[0])
    assert losses[0] == pytest.approx(losses[1], rel=1e-12)
    # and the compact data reproduces the stored dense derivatives
    _, _, source, _ = _prepared(tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r") as f:
        for sym in SPECIES:
            dense = source.forces.pairs[sym].dense()
            stored = f["derivatives"][sym]["dG"][()]
            np.testing.assert_array_equal(source.forces.pairs[sym].neighbor, f["derivatives"][sym]["neighbor"][()])
            np.testing.assert_allclose(dense, stored, rtol=0, atol=1e-6 * np.abs(stored).max())


def test_train_force_rmse_reused_from_the_loss_equals_a_fresh_evaluation(force_set):
    from anncli.training.context import EpochContext

    tmp, _ = force_set
    data, norm, source, nets = _prepared(tmp / "set.h5")
    ctx = EpochContext(nets, source, np.arange(7), np.arange(7, 10), np.random.default_rng(0))
    assert ctx.has_forces
    ctx.full_loss_grad(nets.params.copy())
    reused = ctx.force_rmse("train")
    ctx._last = None
    fresh = ctx.force_rmse("train")
    assert reused == pytest.approx(fresh, rel=1e-12) and fresh > 1.0  # meV/Å
    per_structure = ctx.structure_force_rmse("train") * 1000.0  # eV/Å -> meV/Å
    assert np.sqrt(np.mean(per_structure**2 * data.n_atoms[:7]) / data.n_atoms[:7].mean()) == \
        pytest.approx(fresh, rel=1e-10)


def test_features_that_do_not_match_the_positions_are_a_data_error(force_set, tmp_path):
    import shutil

    import h5py

    from anncli.exceptions import DataError

    tmp, _ = force_set
    shutil.copy(tmp / "set.h5", tmp_path / "set.h5")
    with h5py.File(tmp_path / "set.h5", "a") as f:
        f["atoms/positions"][5, 0] += 0.05  # atom 6 moved after the features were computed
    with pytest.raises(DataError, match="do not match the positions"):
        _prepared(tmp_path / "set.h5")


@pytest.mark.parametrize("chunk_atoms", [2000, 9])
def test_streamed_force_training_gives_the_same_loss_and_gradient(force_set, monkeypatch, chunk_atoms):
    """memory: stream recomputes the derivatives per batch, in pieces of at most CHUNK_ATOMS atoms
    (or one structure) so that the dense derivatives held stay bounded: same numbers as load."""
    from anncli.training import forces as forces_module

    tmp, _ = force_set
    ids = np.array([6, 1, 9, 4])
    _, _, loaded, nets = _prepared(tmp / "set.h5")
    _, _, streamed, _ = _prepared(tmp / "set.h5", memory="stream")
    monkeypatch.setattr(forces_module, "CHUNK_ATOMS", chunk_atoms)
    seen = []
    pairs_of = forces_module.ForceData._pairs_of
    monkeypatch.setattr(forces_module.ForceData, "_pairs_of",
                        lambda self, f, part, stored: seen.append(part) or pairs_of(self, f, part, stored))
    streamed.batch(ids)
    n_atoms = streamed.n_atoms
    assert sorted(np.concatenate(seen).tolist()) == sorted(ids.tolist())
    assert all(len(part) == 1 or n_atoms[part].sum() <= chunk_atoms for part in seen)
    assert len(seen) == 1 if chunk_atoms == 2000 else len(seen) > 1
    a = nets.loss_grad(loaded.batch(ids))
    b = nets.loss_grad(streamed.batch(ids))
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(nets.force_residuals(loaded.batch(ids)),
                               nets.force_residuals(streamed.batch(ids)), rtol=1e-10, atol=1e-14)


def test_force_fraction_draws_a_seeded_subset_each_epoch(force_set):
    """force_fraction 0.5: half of the training structures count, 1/0.5 times; the draw depends on
    the seed and the epoch only; the loss of the drawn half equals a direct evaluation."""
    from anncli.training.forces import ForceData

    tmp, _ = force_set
    data, norm, source, nets = _prepared(tmp / "set.h5")
    weights = np.linspace(0.5, 1.5, data.n_structures)
    train = np.arange(8)
    fd = ForceData(data, norm, weights, 0.3, fraction=0.5, seed=(4, 0))
    fd.draw(3, train)
    chosen = np.flatnonzero(fd.factor)
    assert len(chosen) == 4 and set(chosen) <= set(train)
    np.testing.assert_array_equal(fd.factor[chosen], 2.0)
    again = ForceData(data, norm, weights, 0.3, fraction=0.5, seed=(4, 0))
    again.draw(3, train)
    np.testing.assert_array_equal(again.factor, fd.factor)
    again.draw(4, train)
    assert not np.array_equal(again.factor, fd.factor)  # a new epoch, a new draw
    # loss: energy part of all 8, force part of the chosen 4 counted twice
    from anncli.training.data import MemorySource

    src = MemorySource(data, norm, weights, forces=fd)
    total = nets.loss_grad(src.batch(train))[0]
    full = nets.loss_grad(source.batch(train))[0]
    energy_only = source.batch(train)
    energy_only.forces = None
    e = nets.loss_grad(energy_only)[0]
    per = []
    for k in train:
        per.append(nets.loss_grad(source.batch(np.array([k])))[0])
    e_each = []
    for k in train:
        b = source.batch(np.array([k]))
        b.forces = None
        e_each.append(nets.loss_grad(b)[0])
    force_each = np.array(per) - np.array(e_each)
    assert total - e == pytest.approx(2.0 * force_each[chosen].sum(), rel=1e-10)
    assert full - e == pytest.approx(force_each.sum(), rel=1e-10)


def test_adam_mini_batches_train_on_forces_too(force_set):
    """The mini-batch path carries the force data: a real force weight lowers the force
    error far below that of a negligible one (same seed, same epochs)."""
    from anncli.config.loader import load_config
    from anncli.config.train import TrainConfig
    from anncli.workflows import train

    tmp, _ = force_set
    final = {}
    for w in (1e-9, 0.5):
        path = _train_yaml(tmp, force_weight=w, output=f"model-adam-{w}.h5",
                           output_dir=f"out-adam-{w}", optimizer="{method: adam, learning_rate: 0.01}",
                           batch_size=3, epochs=20)
        train.run(load_config(path, TrainConfig), config_path=path)
        with (tmp / f"out-adam-{w}" / "learning_curve.csv").open() as fh:
            final[w] = float(list(csv.DictReader(fh))[-1]["train_force_rmse"])
    assert final[0.5] < 0.7 * final[1e-9]


@pytest.mark.parametrize("selection", ["auto", "energy", "forces", "loss"])
def test_model_selection_criterion_picks_its_best_epoch(force_set, selection):
    """The saved model is the epoch where the chosen validation criterion is smallest."""
    from anncli.config.loader import load_config
    from anncli.config.train import TrainConfig
    from anncli.potential.model_file import load_model
    from anncli.workflows import train

    tmp, _ = force_set
    w = 0.3
    path = _train_yaml(tmp, force_weight=w, selection=selection, epochs=40, output=f"sel-{selection}.h5",
                       output_dir=f"sel-{selection}", optimizer="{method: adam, learning_rate: 0.02}")
    train.run(load_config(path, TrainConfig), config_path=path)
    with (tmp / f"sel-{selection}" / "learning_curve.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    e = np.array([float(r["val_rmse"]) for r in rows])
    f = np.array([float(r["val_force_rmse"]) for r in rows])
    score = {"energy": e, "forces": f, "loss": np.sqrt(e**2 + w * f**2), "auto": np.sqrt(e**2 + w * f**2)}
    best = int(np.argmin(score[selection]))  # epochs 0..40 in order
    meta = load_model(tmp / f"sel-{selection}.h5").metadata
    assert meta["best_epoch"] == int(rows[best]["epoch"])
    assert meta["selection"] == ("loss" if selection == "auto" else selection)
    assert meta["best_val_score"] == pytest.approx(score[selection][best], rel=1e-5)
    assert meta["best_val_rmse_meV"] == pytest.approx(e[best], rel=1e-5)


def test_force_selection_needs_force_training(force_set, capsys):
    from anncli.cli import main

    tmp, _ = force_set
    path = _train_yaml(tmp, selection="loss", output="x.h5")
    assert main(["train", str(path)]) == 2
    assert "selection: loss needs force training" in capsys.readouterr().err


def test_energy_only_training_says_that_the_forces_are_unused(force_set, caplog):
    """force_weight 0 on a set with forces: one info line naming how many structures have them."""
    import logging

    from anncli.config.loader import load_config
    from anncli.config.train import TrainConfig
    from anncli.workflows import train

    tmp, structures = force_set
    path = _train_yaml(tmp, force_weight=0, epochs=1, output="note.h5", output_dir="out-note")
    with caplog.at_level(logging.INFO, logger="anncli"):
        train.run(load_config(path, TrainConfig), config_path=path)
    notes = [r.getMessage() for r in caplog.records if "not used (force_weight: 0)" in r.getMessage()]
    assert len(notes) == 1 and f"{len(structures)} structures have reference forces" in notes[0]
    caplog.clear()
    path = _train_yaml(tmp, force_weight=0.1, epochs=1, output="note2.h5", output_dir="out-note2")
    with caplog.at_level(logging.INFO, logger="anncli"):
        train.run(load_config(path, TrainConfig), config_path=path)
    assert not [r for r in caplog.records if "not used (force_weight: 0)" in r.getMessage()]


def test_train_force_rmse_with_force_fraction_is_that_of_the_drawn_structures(force_set):
    """force_fraction 0.5: the training force RMSE (reused from the loss or computed afresh) is
    the RMSE over the structures drawn for the epoch, not over all of them."""
    from anncli.training.context import EpochContext

    tmp, _ = force_set
    data, norm, source, nets = _prepared(tmp / "set.h5")
    source.forces.fraction = 0.5
    train = np.arange(8)
    ctx = EpochContext(nets, source, train, np.arange(8, 10), np.random.default_rng(0))
    ctx.start_epoch(2)
    drawn = np.flatnonzero(source.forces.factor)
    assert 0 < len(drawn) < len(train)
    fresh = ctx.force_rmse("train")
    ctx.full_loss_grad(nets.params.copy())
    assert ctx.force_rmse("train") == pytest.approx(fresh, rel=1e-12)
    res = nets.force_residuals(source.batch(drawn)) / ctx.energy_scale * 1000.0
    assert fresh == pytest.approx(float(np.sqrt(np.mean(res**2))), rel=1e-10)
    everything = nets.force_residuals(source.batch(train)) / ctx.energy_scale * 1000.0
    assert abs(fresh - float(np.sqrt(np.mean(everything**2)))) > 1e-6 * fresh


def test_train_force_rmse_after_mini_batches_is_that_of_the_batches_at_their_steps(force_set):
    """Adam/SGD: the training force RMSE of an epoch comes from its mini-batches (no second
    force pass): with steps that do not move the weights it equals a fresh full evaluation; with
    steps that do, it is the RMSE of each batch at the weights of its own step."""
    from anncli.training.context import EpochContext
    from anncli.training.optimizers import SGDMethod

    tmp, _ = force_set
    data, norm, source, nets = _prepared(tmp / "set.h5")
    source.forces.fraction = 0.5
    train = np.arange(8)
    ctx = EpochContext(nets, source, train, np.arange(8, 10), np.random.default_rng(3), batch_size=3)
    ctx.start_epoch(1)
    SGDMethod(nets.n_params, learning_rate=0.0).run_epoch(nets.params, ctx)
    from_batches = ctx.force_rmse("train")
    ctx._batch_force_stats = [0.0, 0]
    assert from_batches == pytest.approx(ctx.force_rmse("train"), rel=1e-12)

    ctx.start_epoch(2)
    sq, n, params = 0.0, 0, nets.params
    for batch in ctx.batches():  # what an SGD epoch sees, step by step
        fb = batch.forces
        keep = (fb.factor[fb.ids] > 0)[fb.atom_structure] & (fb.coef > 0)
        r = nets.force_residuals(batch)[keep]
        sq, n = sq + float(np.sum(r * r)), n + r.size
        params -= 0.05 * ctx.batch_loss_grad(params, batch)[1]
    assert n > 0
    assert ctx.force_rmse("train") == pytest.approx(np.sqrt(sq / n) / ctx.energy_scale * 1000.0, rel=1e-10)


def test_stream_chunks_with_forces_are_bounded_in_atoms():
    from anncli.training.forces import STREAM_CHUNK_ATOMS, stream_chunk_structures

    assert stream_chunk_structures(np.full(10, 4)) == 2000  # small cells: the usual 2000 structures
    assert stream_chunk_structures(np.full(10, 200)) == STREAM_CHUNK_ATOMS // 200
    assert stream_chunk_structures(np.full(3, 10**6)) == 1

