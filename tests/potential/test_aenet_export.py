"""Exporting anncli models as ænet .nn files: golden byte identity, round trips, refusals, CLI.

* the golden ænet potentials (TiO2 of aenet-golden, the water-cluster potentials) read and
  written back give the same bytes, also through an anncli model file (HDF5);
* models trained by anncli (Chebyshev and Behler2011 descriptors, both energy scalings,
  every ænet activation) exported and read back predict the same energies and forces to
  1e-10 through :class:`Potential`; so do the golden potentials written without the fields the
  reader keeps (the feature std then goes through ænet's mean of squares);
* what ænet cannot represent is refused with a message naming the part, nothing written;
* ``anncli export``: exit 0 and the files, exit 2 with one message for bad input.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emt_data import emt_structures
from anncli.exceptions import ConfigError, DataError
from anncli.potential.aenet_nn import read_aenet_nn
from anncli.potential.aenet_nn_writer import (STD_RTOL, mean_of_squares, plan_export,
                                              write_aenet_nn)
from anncli.potential.evaluate import Potential

SPECIES = ["Cu", "Au"]
TOL = 1e-10


def _golden_sets(shared_data: Path) -> dict[str, dict[str, Path]]:
    tio2 = shared_data / "aenet-golden" / "predict-TiO2"
    water = shared_data / "water-clusters" / "reference-ann"
    return {"TiO2": {"Ti": tio2 / "Ti.nn", "O": tio2 / "O.nn"},
            "water": {"H": water / "H.10t-10t.nn-04419", "O": water / "O.10t-10t.nn-04419"}}


def _same_predictions(model_a, model_b, structures) -> None:
    pa, _ = Potential(model_a).evaluate(structures)
    pb, _ = Potential(model_b).evaluate(structures)
    for a, b in zip(pa, pb):
        assert abs(a.energy - b.energy) <= TOL
        assert np.abs(a.forces - b.forces).max() <= TOL


# ------------------------------------------------------------------ golden byte identity
@pytest.mark.parametrize("name", ["TiO2", "water"])
def test_golden_potentials_written_back_byte_for_byte(shared_data, tmp_path, name):
    from anncli.potential.model_file import load_model, save_model

    files = _golden_sets(shared_data)[name]
    model = read_aenet_nn(files)
    out = write_aenet_nn(model, tmp_path / "direct")
    assert set(out.files) == set(files)
    for sym, path in files.items():
        assert out.files[sym].read_bytes() == path.read_bytes(), sym
    # the same through an anncli model file
    reloaded = load_model(save_model(tmp_path / "model.h5", model))
    out = write_aenet_nn(reloaded, tmp_path / "via-h5")
    for sym, path in files.items():
        assert out.files[sym].read_bytes() == path.read_bytes(), sym


def test_golden_without_kept_fields_predicts_the_same(golden, tmp_path):
    """Written from the Model alone (feature std -> ænet's mean of squares), read back."""
    from anncli.io import read_structures

    d = golden / "predict-TiO2"
    model = read_aenet_nn({"Ti": d / "Ti.nn", "O": d / "O.nn"})
    model.metadata.pop("aenet")
    out = write_aenet_nn(model, tmp_path)
    assert out.files["Ti"].read_bytes() != (d / "Ti.nn").read_bytes()  # cov and the info differ
    back = read_aenet_nn(out.files)
    for sym in model.species:
        np.testing.assert_array_equal(back.feature_mean[sym], model.feature_mean[sym])
        np.testing.assert_allclose(back.feature_std[sym], model.feature_std[sym], rtol=STD_RTOL, atol=0)
    structures = [read_structures(d / "xsf-TiO2" / f"structure-00{k}.xsf")[0] for k in (1, 2)]
    _same_predictions(model, back, structures)


# ------------------------------------------------------------------ anncli-trained models
DESCRIPTORS = {
    "chebyshev": """\
        default:
          type: chebyshev
          radial: {cutoff: 4.5, order: 5}
          angular: {cutoff: 3.5, order: 2}
        """,
    "behler2011": """\
        default:
          type: behler2011
          env: [Cu, Au]
          functions:
            - {G: 1, type2: Cu, Rc: 4.5}
            - {G: 2, type2: Au, eta: 0.5, Rs: 2.5, Rc: 4.5}
            - {G: 3, type2: Cu, kappa: 1.2, Rc: 4.0}
            - {G: 2, type2: Cu, eta: 0.3, Rs: 0.0, Rc: 4.5}
            - {G: 4, type2: Cu, type3: Au, eta: 0.05, lambda: -1, zeta: 2, Rc: 4.0}
            - {G: 5, type2: Au, type3: Au, eta: 0.02, lambda: 1, zeta: 1, Rc: 4.0}
            - {G: 4, type2: Cu, type3: Cu, eta: 0.01, lambda: 1, zeta: 4, Rc: 4.5}
        """,
}


@pytest.fixture(scope="module")
def emt():
    return emt_structures(14, rattle=0.1)


@pytest.fixture(scope="module", params=[("chebyshev", "minmax", "tanh"), ("chebyshev", "std", "twist"),
                                        ("behler2011", "std", "sigmoid"), ("behler2011", "minmax", "mtanh")],
                ids=lambda p: "-".join(p))
def trained(request, tmp_path_factory, emt):
    """A model trained by anncli (generate + train workflows) on EMT Cu-Au structures."""
    from anncli.config.generate import load_generate_config
    from anncli.config.train import TrainConfig
    from anncli.io import write_xsf
    from anncli.potential.model_file import load_model
    from anncli.workflows import generate, train

    kind, scaling, act = request.param
    tmp = tmp_path_factory.mktemp(f"{kind}-{scaling}")
    (tmp / "data").mkdir()
    for k, s in enumerate(emt[:10]):
        write_xsf(tmp / "data" / f"s{k:02d}.xsf", s)
    (tmp / "gen.yaml").write_text(
        "structures: [data/*.xsf]\noutput: set.h5\nreference_energies: {Cu: -0.3, Au: 0.2}\n"
        "descriptors:\n" + textwrap.indent(textwrap.dedent(DESCRIPTORS[kind]), "  "))
    generate.run(load_generate_config(tmp / "gen.yaml"), config_path=tmp / "gen.yaml")
    config = TrainConfig.model_validate({
        "trainset": str(tmp / "set.h5"), "output": str(tmp / "model.h5"), "seed": 3,
        "validation_fraction": 0.2, "energy_scaling": scaling, "epochs": 5, "checkpoint_every": 0,
        "networks": {"default": {"hidden": [6, 5], "activation": act}},
        "optimizer": {"method": "lbfgs"}})
    train.run(config)
    return load_model(tmp / "model.h5")


def test_trained_model_round_trip(trained, emt, tmp_path):
    out = write_aenet_nn(trained, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Au.nn", "Cu.nn"]
    back = read_aenet_nn(out.files)
    assert back.species == trained.species
    assert back.energy_scale == trained.energy_scale and back.energy_shift == trained.energy_shift
    np.testing.assert_array_equal(back.reference_energies, trained.reference_energies)
    for sym in SPECIES:
        assert json.loads(back.descriptors[sym]) == json.loads(trained.descriptors[sym])
        assert back.networks[sym].activations == trained.networks[sym].activations
        np.testing.assert_array_equal(back.networks[sym].params, trained.networks[sym].params)
        np.testing.assert_array_equal(back.feature_mean[sym], trained.feature_mean[sym])
        np.testing.assert_array_equal(back.feature_min[sym], trained.feature_min[sym])
        np.testing.assert_allclose(back.feature_std[sym], trained.feature_std[sym], rtol=STD_RTOL, atol=0)
    # the 4 held-back structures are new to the model
    _same_predictions(trained, back, emt)


def test_trained_model_export_is_reproducible(trained, tmp_path):
    """Exporting the read-back potential again gives the same files (a fixed point)."""
    first = write_aenet_nn(trained, tmp_path / "a")
    second = write_aenet_nn(read_aenet_nn(first.files), tmp_path / "b")
    for sym in SPECIES:
        assert first.files[sym].read_bytes() == second.files[sym].read_bytes()


# ------------------------------------------------------------------ the mean of squares
def test_mean_of_squares_gives_back_the_std():
    rng = np.random.default_rng(0)
    mean = rng.normal(scale=5.0, size=400)
    std = rng.uniform(0.05, 3.0, size=400)
    std[:3] = [0.0, 1e-11, 1e-10]  # set to 0 by both programs
    cov = mean_of_squares("X", mean, std)
    recovered = np.sqrt(cov - mean * mean)  # ænet's stp_normalize
    assert (recovered[:3] == 0.0).all()
    np.testing.assert_allclose(recovered[3:], std[3:], rtol=STD_RTOL, atol=0)
    # the nearest double: most come back exactly
    assert np.mean(recovered[3:] == std[3:]) > 0.2


def test_mean_far_larger_than_the_std_is_refused():
    with pytest.raises(DataError, match=r"X potential: feature 2 \(mean 1000000\.0, std 0\.001\) "
                                        r"cannot be stored as ænet's mean of squares"):
        mean_of_squares("X", np.array([1.0, 1e6]), np.array([1.0, 1e-3]))


# ------------------------------------------------------------------ refusals
@pytest.fixture
def small():
    """A random Cu-Au Chebyshev model with statistics from two structures."""
    from pot_helpers import cluster_structure, small_setups, triclinic_structure
    from synthetic_model import random_model

    return random_model(small_setups(), (4,), structures=[triclinic_structure(), cluster_structure()],
                        seed=1, reference_energies={"Cu": -1.5, "Au": -2.5}, energy_scale=0.7,
                        energy_shift=-0.2)


def _refused(model, match, tmp_path, exc=DataError, **kwargs):
    with pytest.raises(exc, match=match):
        write_aenet_nn(model, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("act", ["relu", "gelu", "softplus", "swish"])
def test_activation_ænet_lacks_is_refused(small, tmp_path, act):
    from anncli.network.mlp import Network

    old = small.networks["Au"]
    new = Network(old.sizes, [act, "linear"])
    new.params[:] = old.params
    small.networks["Au"] = new
    _refused(small, rf"the Au potential: layer 1 uses the activation '{act}', which ænet does not have",
             tmp_path)


def test_committee_needs_a_member(small, tmp_path):
    from anncli.network.mlp import Network

    member = {}
    for sym, old in small.networks.items():
        member[sym] = Network(old.sizes, old.activations)
        member[sym].params[:] = 1.1 * old.params
    small.committee = [member]
    _refused(small, r"committee of 2 networks per species.*export one member \(member 0\.\.1\)", tmp_path)
    _refused(small, r"member must be a whole number from 0 to 1", tmp_path, exc=ConfigError, member=2)
    one = write_aenet_nn(small, tmp_path / "m1", member=1)
    back = read_aenet_nn(one.files)
    np.testing.assert_array_equal(back.networks["Cu"].params, member["Cu"].params)
    np.testing.assert_array_equal(back.networks["Au"].params, member["Au"].params)


def _with_descriptor(model, sym, **changes):
    d = json.loads(model.descriptors[sym])
    d.update(changes)
    model.descriptors[sym] = json.dumps(d)
    return model


def test_custom_chebyshev_weights_are_refused(small, tmp_path):
    _refused(_with_descriptor(small, "Cu", weights=[-1.0, 2.0]),
             r"the Cu potential: its Chebyshev species weights \[-1.0, 2.0\] differ from ænet's", tmp_path)
    # ænet's own weights written out explicitly are fine
    write_aenet_nn(_with_descriptor(small, "Cu", weights=[-1.0, 1.0]), tmp_path / "ok")


def test_env_without_a_species_is_refused(small, tmp_path):
    _refused(_with_descriptor(small, "Cu", env=["Cu"]), r"the Cu potential: its chebyshev env lists Cu but "
             r"not Au; ænet needs every species", tmp_path)


def test_env_species_without_a_network_is_fine(tmp_path):
    """ænet maps env species that are not in TYPES to nothing; the typespin weights keep their positions."""
    from anncli.descriptors.chebyshev import ChebyshevSetup
    from pot_helpers import cluster_structure, triclinic_structure
    from synthetic_model import random_model

    env = ["Cu", "O", "Au"]
    model = random_model({s: ChebyshevSetup(s, env, 4.0, 4, 3.5, 2) for s in SPECIES}, (5,), seed=4,
                         structures=[triclinic_structure(), cluster_structure()])
    back = read_aenet_nn(write_aenet_nn(model, tmp_path).files)
    assert json.loads(back.descriptors["Au"])["env"] == env
    _same_predictions(model, back, [triclinic_structure(), cluster_structure()])


def test_behler_env_order_ænet_misevaluates_is_refused(tmp_path):
    from anncli.descriptors.behler import BehlerSetup
    from synthetic_model import random_model

    from pot_helpers import triclinic_structure

    fns = [{"G": 2, "type2": "Cu", "eta": 0.3, "Rc": 4.0}, {"G": 2, "type2": "Au", "eta": 0.3, "Rc": 4.0}]
    ok = random_model({"Cu": BehlerSetup("Cu", ["Au", "Cu"], fns), "Au": BehlerSetup("Au", ["Au", "Cu"], fns)},
                      (3,), seed=0, structures=[triclinic_structure()])
    assert write_aenet_nn(ok, tmp_path / "ok").types == ["Au", "Cu"]  # ænet needs TYPES Au Cu
    bad = random_model({"Cu": BehlerSetup("Cu", ["Cu", "Au"], fns), "Au": BehlerSetup("Au", ["Au", "Cu"], fns)},
                       (3,), seed=0, structures=[triclinic_structure()])
    _refused(bad, r"no ænet TYPES order evaluates these Behler2011 setups correctly \(Cu at 1 in its env, "
             r"Au at 1 in its env\)", tmp_path)


def test_other_refusals(small, tmp_path):
    import copy

    m = copy.deepcopy(small)
    m.feature_min["Cu"] = np.full_like(m.feature_min["Cu"], -np.inf)
    _refused(m, r"the Cu potential: feature_min holds non-finite numbers", tmp_path)
    m = copy.deepcopy(small)
    m.species = ["Cu", "Auu"]
    m.descriptors["Auu"] = m.descriptors.pop("Au")
    _refused(m, r"species 'Auu': ænet species names have 1 or 2 characters", tmp_path)
    m = copy.deepcopy(small)
    m.descriptors["Au"] = json.dumps({"kind": "soap", "central": "Au"})
    _refused(m, r"the Au potential: descriptor kind 'soap' has no ænet equivalent", tmp_path)
    m = copy.deepcopy(small)
    m.energy_scale = 0.0
    _refused(m, r"energy scale \(0.0\).*the scale non-zero", tmp_path)


def test_existing_files_need_overwrite(small, tmp_path):
    write_aenet_nn(small, tmp_path)
    before = (tmp_path / "Cu.nn").read_bytes()
    small.energy_shift += 1.0
    with pytest.raises(ConfigError, match=r"Cu.nn.*exist"):
        write_aenet_nn(small, tmp_path, overwrite=False)
    assert (tmp_path / "Cu.nn").read_bytes() == before
    write_aenet_nn(small, tmp_path, overwrite=True)
    assert read_aenet_nn({"Cu": tmp_path / "Cu.nn", "Au": tmp_path / "Au.nn"}).energy_shift == small.energy_shift


def test_plan_writes_nothing(small, tmp_path):
    plan = plan_export(small, rmin=0.8)
    assert plan.types == ["Cu", "Au"] and not plan.files and not list(tmp_path.iterdir())
    rmin = np.frombuffer(plan.payloads["Cu"][13], dtype="<f8")  # Rc_min, the record after envtypes
    assert rmin.tolist() == [0.8]


# ------------------------------------------------------------------ command line
@pytest.fixture
def model_file(small, tmp_path):
    from anncli.potential.model_file import save_model

    return save_model(tmp_path / "model.h5", small)


def _run(*args):
    from anncli.cli import main

    return main(list(args))


def test_cli_export(model_file, small, tmp_path, capsys):
    assert _run("export", str(model_file), "--format", "aenet", "--output", str(tmp_path / "nn")) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'nn' / 'Cu.nn'}" in out and f"wrote {tmp_path / 'nn' / 'Au.nn'}" in out
    assert "TYPES / NETWORKS order: Cu Au" in out
    back = read_aenet_nn({s: tmp_path / "nn" / f"{s}.nn" for s in SPECIES})
    from pot_helpers import triclinic_structure

    _same_predictions(small, back, [triclinic_structure()])
    # again: the files exist
    assert _run("export", str(model_file), "--format", "aenet", "--output", str(tmp_path / "nn")) == 2
    assert "exist" in capsys.readouterr().err
    assert _run("export", str(model_file), "--format", "aenet", "-o", str(tmp_path / "nn"), "--overwrite") == 0


@pytest.mark.parametrize("args,message", [
    (["--format", "lammps"], "Invalid value for '--format'"),
    ([], "Missing option '--format'"),
    (["--format", "aenet", "--member", "3"], "member must be a whole number from 0 to 0"),
    (["--format", "aenet", "--rmin", "0"], "Invalid value for '--rmin'"),
])
def test_cli_bad_options(model_file, tmp_path, capsys, args, message):
    assert _run("export", str(model_file), "--output", str(tmp_path / "nn"), *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "nn").exists()


def test_cli_refusal_and_missing_model(small, tmp_path, capsys):
    from anncli.network.mlp import Network
    from anncli.potential.model_file import save_model

    net = Network(small.networks["Cu"].sizes, ["relu", "linear"])
    small.networks["Cu"] = net
    path = save_model(tmp_path / "relu.h5", small)
    assert _run("export", str(path), "--format", "aenet", "--output", str(tmp_path / "nn")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"anncli: error: {path}: cannot be written as ænet potentials: "
                                               "the Cu potential: layer 1 uses the activation 'relu'")
    assert not (tmp_path / "nn").exists()
    assert _run("export", str(tmp_path / "none.h5"), "--format", "aenet", "--output", str(tmp_path / "nn")) == 2
    assert "none.h5: no such model file" in capsys.readouterr().err
