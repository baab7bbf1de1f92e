"""An ænet user's directory (generate.in, train.in, predict.in, *.stp, xsf/) run start to finish
with ``anncli generate/train/predict`` on the same files, and ``anncli convert X.in``.

* the .nn files train.in names are written and predict.in's energies through them equal the
  anncli model's (the same potential, 1e-8 eV as printed);
* predict.in on the golden ænet potentials prints predict.x's total energies (predict.out);
* train.in on generate.x's own binary training set converts it and trains;
* every converted YAML validates to the same config as the .in file, with comments at the traps.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emt_data import emt_structures

from anncli.cli import main
from anncli.log import reset_logging


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


STP = """DESCR
  Chebyshev setup for {sym}
END DESCR
ATOM {sym}
ENV 2
Cu
Au
RMIN 0.75d0
BASIS type=Chebyshev
radial_Rc = 4.0  radial_N = 3 angular_Rc = 3.0  angular_N = 1
"""


def _user_dir(root: Path, n: int = 24) -> Path:
    from anncli.io.xsf import write_xsf

    (root / "xsf").mkdir(parents=True)
    names = []
    for k, s in enumerate(emt_structures(n, seed=3)):
        names.append(f"xsf/s{k:03d}.xsf")
        write_xsf(root / names[-1], s)
    for sym in ("Cu", "Au"):
        (root / f"{sym}.stp").write_text(STP.format(sym=sym))
    (root / "generate.in").write_text(textwrap.dedent("""\
        OUTPUT refdata.train
        TYPES
        2
        Cu 0.0
        Au 0.0
        SETUPS
        Cu Cu.stp
        Au Au.stp
        files
        {n}
        """).format(n=n) + "\n".join(names) + "\n")
    (root / "train.in").write_text(textwrap.dedent("""\
        TRAININGSET refdata.train
        TESTPERCENT 20
        ITERATIONS  15
        MAXENERGY   100.0
        TIMING
        SAVE_ENERGIES
        METHOD
        bfgs
        NETWORKS
        ! atom   network  hidden
        ! types  file     layers   nodes:activation
          Cu     Cu.nn    2        6:tanh  6:t
          Au     Au.nn    2        6:tanh  6:tanh
        """))
    (root / "predict.in").write_text(textwrap.dedent("""\
        TYPES
        2
        Cu
        Au
        NETWORKS
        Cu Cu.nn
        Au Au.nn
        FORCES
        FILES
        3
        xsf/s000.xsf
        xsf/s001.xsf
        xsf/s002.xsf
        """))
    return root


def _totals(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"^ Total energy\s*:\s*(\S+) eV", text, flags=re.M)]


def test_aenet_directory_start_to_finish(tmp_path, capsys, monkeypatch):
    from anncli.io.xsf import read_xsf
    from anncli.potential.evaluate import Potential
    from anncli.potential.model_file import load_model

    d = _user_dir(tmp_path / "user")
    monkeypatch.chdir(d)
    assert main(["generate", "generate.in"]) == 0
    assert (d / "refdata.h5").is_file()
    assert main(["train", "train.in"]) == 0
    for f in ("model.h5", "Cu.nn", "Au.nn", "results.csv"):
        assert (d / f).is_file(), f
    capsys.readouterr()
    assert main(["predict", "predict.in"]) == 0
    out = capsys.readouterr().out
    got = _totals(out)
    structures = [read_xsf(d / f"xsf/s00{k}.xsf") for k in range(3)]
    preds, _ = Potential(load_model(d / "model.h5")).evaluate(structures, stress=False)
    np.testing.assert_allclose(got, [p.energy for p in preds], rtol=0, atol=2e-8)
    assert "Fx" in out  # FORCES: the atoms table has forces
    # a second train.x-style run does not silently restart from the .nn files
    assert main(["train", "train.in"]) == 2
    assert "exist" in capsys.readouterr().err
    assert main(["train", "train.in", "--overwrite"]) == 0


def test_convert_inputs_validate_to_the_same_config(tmp_path, capsys):
    from anncli.config.loader import load_config
    from anncli.config.generate import GenerateConfig, load_generate_config
    from anncli.config.predict import PredictConfig
    from anncli.config.train import TrainConfig
    from anncli.workflows.convert_inputs import load_aenet_config

    d = _user_dir(tmp_path / "user", n=3)
    for stage, schema in (("generate", GenerateConfig), ("train", TrainConfig), ("predict", PredictConfig)):
        assert main(["convert", str(d / f"{stage}.in")]) == 0
        assert f"anncli {stage} input" in capsys.readouterr().out
        from_yaml = load_config(d / f"{stage}.yaml", schema)
        from_in = load_generate_config(d / "generate.in") if stage == "generate" else \
            load_aenet_config(d / f"{stage}.in", stage)[0]
        # structure entries are resolved at run time, relative to the input file
        a, b = from_yaml.model_dump(), from_in.model_dump()
        a["structures"], b["structures"] = ([str((d / p).resolve()) for p in x.get("structures") or []]
                                            for x in (a, b))
        assert a == b, stage
    # into another directory: paths still name the same files
    (tmp_path / "elsewhere").mkdir()
    assert main(["convert", str(d / "predict.in"), "-o", str(tmp_path / "elsewhere" / "p.yaml")]) == 0
    cfg = load_config(tmp_path / "elsewhere" / "p.yaml", PredictConfig)
    assert Path(cfg.aenet_networks["Cu"]).resolve() == (d / "Cu.nn").resolve()
    def comments(name: str) -> str:
        return " ".join(line[2:] for line in (d / name).read_text().splitlines() if line.startswith("# "))

    train_yaml = comments("train.yaml")
    for trap in ("every function evaluation as an epoch", "seeds the test split", "reuses nothing",
                 "refdata.h5", "results.csv", "anncli export model.h5"):
        assert trap in train_yaml, trap
    gen_yaml = comments("generate.yaml")
    for trap in ("any case", "finds 'eta' inside 'zeta'", "RMIN", "refuses to overwrite"):
        assert trap in gen_yaml, trap
    assert main(["convert", str(d / "train.in")]) == 2  # exists
    assert "exists" in capsys.readouterr().err


def test_predict_in_on_golden_aenet_potentials(golden, tmp_path, capsys):
    g = golden / "predict-TiO2"
    (tmp_path / "predict.in").write_text(textwrap.dedent(f"""\
        TYPES
        2
          O
          Ti
        NETWORKS
        Ti {g}/Ti.nn
        O  {g}/O.nn
        FORCES
        FILES
        3
        {g}/xsf-TiO2/structure-001.xsf
        {g}/xsf-TiO2/structure-002.xsf
        {g}/xsf-TiO2/structure-003.xsf
        """))
    assert main(["predict", str(tmp_path / "predict.in")]) == 0
    got = _totals(capsys.readouterr().out)
    expected = _totals((g / "predict.out").read_text())
    assert len(expected) == 3 and got == expected  # predict.x's printed digits


def test_train_in_on_generate_x_training_set(golden, tmp_path, capsys, monkeypatch):
    g = golden / "trainset"
    shutil.copy(g / "ref.train", tmp_path / "ref.train")
    (tmp_path / "train.in").write_text(textwrap.dedent("""\
        TRAININGSET ref.train
        TESTPERCENT 20
        ITERATIONS 5
        METHOD
        adam mu=0.01 batchsize=2
        NETWORKS
        Ti Ti.nn 1 3:twist
        O  O.nn  1 3:mtanh
        """))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "train.in"]) == 0
    assert (tmp_path / "ref.h5").is_file() and (tmp_path / "Ti.nn").is_file()
    from anncli.potential.aenet_nn import read_aenet_nn

    m = read_aenet_nn({"Ti": "Ti.nn", "O": "O.nn"})
    assert m.networks["Ti"].activations[0] == "twist" and m.networks["O"].activations[0] == "mtanh"
