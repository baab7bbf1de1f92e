"""ænet's train.in and predict.in read into anncli's train / predict schema: values and errors."""

from __future__ import annotations

import textwrap

import pytest

from anncli.cli import main
from anncli.exceptions import ConfigError
from anncli.io.aenet_run_inputs import aenet_input_kind, read_predict_in, read_train_in
from anncli.log import reset_logging


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


NETS = "NETWORKS\n Ti Ti.nn 2 10:tanh 10:s\n O O.nn 0\n"


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_train_in_values(tmp_path):
    p = _write(tmp_path, "train.in", """\
        # comment
        trainingset "../data/ref.train"   ! quoted, with '/'
        TESTPERCENT 15
        ITERATIONS 0
        maxenergy -1.5d0
        SAMPLING weighted
        METHOD
        ekf  lambda0=0.98 lambda=0.99 state=20 pnoise=1d-5 wgroup=50
        """ + NETS)
    inp = read_train_in(p)
    c = inp.config
    assert c["trainset"] == "../data/ref.h5" and c["validation_fraction"] == 0.15 and c["epochs"] == 0
    assert c["max_energy_per_atom"] == -1.5 and c["sampling"] == "error" and c["batch_size"] == 1
    assert c["optimizer"] == {"method": "ekf", "lambda": 0.99, "lambda0": 0.98, "p0": 0.05,
                              "process_noise": 1e-5, "block_size": 50}
    assert c["networks"] == {"Ti": {"hidden": [10, 10], "activation": ["tanh", "sigmoid"]},
                             "O": {"hidden": [], "activation": []}}
    assert inp.networks_files == {"Ti": "Ti.nn", "O": "O.nn"}
    assert aenet_input_kind(p) == "train"


@pytest.mark.parametrize("line,optimizer,batch,sampling", [
    ("bfgs", {"method": "lbfgs", "memory": 20}, None, None),
    ("online_sd gamma=0.5 alpha=0.2", {"method": "sgd", "learning_rate": 0.5, "momentum": 0.2}, 1, "sequential"),
    ("online_gd", {"method": "sgd", "learning_rate": 0.9, "momentum": 0.01}, 1, "sequential"),
    ("adam mu=0.005 b1=0.8 b2=0.99 eps=1e-7 samplesize=100 batchsize=10",
     {"method": "adam", "learning_rate": 0.005, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7}, 10, "random"),
    ("ekf", {"method": "ekf", "lambda": 0.999, "lambda0": 0.97, "p0": 0.1, "process_noise": 0.0,
             "block_size": 100}, 1, "sequential"),
])
def test_methods_with_aenets_defaults(tmp_path, line, optimizer, batch, sampling):
    from anncli.config.train import TrainConfig
    from anncli.config.loader import validate_config

    p = _write(tmp_path, "train.in", f"TRAININGSET ref.train\nMETHOD\n{line}\n" + NETS)
    c = read_train_in(p).config
    assert c["optimizer"] == optimizer and c.get("batch_size") == batch and c.get("sampling") == sampling
    validate_config(c, TrainConfig, source=p, base_dir=tmp_path)  # the schema takes it


def test_predict_in_values(tmp_path):
    p = _write(tmp_path, "predict.in", """\
        TYPES
        2
           Ti
          O
        NETWORKS
          O   nets/O.nn
          Ti  nets/Ti.nn
        PRINT_ATOMIC_ENERGIES
        RELAX
        method=bfgs F_conv=0.02 E_conv=0.001 steps=50 dmax=1 1 1
        files
        2
        xsf/a b.xsf
        "xsf/c.xsf"
        """)
    c = read_predict_in(p).config
    assert c["aenet_networks"] == {"O": "nets/O.nn", "Ti": "nets/Ti.nn"}
    assert c["structures"] == ["xsf/a b.xsf", "xsf/c.xsf"]
    assert c["forces"] is True and c["print"] == "atoms" and c["stress"] is False
    assert c["relax"] == {"optimizer": "BFGS", "fmax": 0.02, "steps": 50, "output": "relaxed.extxyz"}
    assert aenet_input_kind(p) == "predict"


BAD_TRAIN = [
    ("TRAININGSET ref.train\nFORCES\n" + NETS, r"train.in, line 2: the keyword 'FORCES' is an aenet-PyTorch keyword"),
    ("TRAININGSET ref.train\nWHATEVER 1\n" + NETS, r"train.in, line 2: the keyword 'WHATEVER' is not supported"),
    ("TRAININGSET ref.train\nMETHOD\nlm batchsize=10\n" + NETS, r"train.in, line 3: METHOD 'lm' \(Levenberg-Marquardt\) is not supported"),
    ("TRAININGSET ref.train\nMETHOD\nadam lr=0.1\n" + NETS, r"train.in, line 3: unknown parameter 'lr'"),
    ("TRAININGSET ref.train\nMETHOD\nnewton\n" + NETS, r"train.in, line 3: unknown METHOD 'newton'"),
    ("TRAININGSET ref.train\nTESTPERCENT 0\n" + NETS, r"train.in, line 2: TESTPERCENT must be between 0 and 100"),
    ("TRAININGSET ref.train\nNETWORKS\n Ti Ti.nn 2 10:tanh 10:relu\n", r"train.in, line 3: unknown activation 'relu'"),
    ("TRAININGSET ref.train\nNETWORKS\n Ti Ti.nn 2 10:Tanh 10:t\n", r"unknown activation 'Tanh'.*lower case"),
    ("TRAININGSET ref.train\nNETWORKS\n Ti Ti.nn 3 10:tanh 10:t\n", r"line 3: 3 hidden layer\(s\) need 3"),
    ("TRAININGSET ref.train\nNETWORKS\n Ti Ti.nn 1 tanh\n", r"line 3: a hidden layer must read '<nodes>:<activation>'"),
    ("TESTPERCENT 10\n" + NETS, r"TRAININGSET <file> is missing"),
    ("TRAININGSET a\nTRAININGSET b\n" + NETS, r"line 2: TRAININGSET is given twice \(first on line 1\)"),
]


@pytest.mark.parametrize("text,message", BAD_TRAIN)
def test_bad_train_in(tmp_path, capsys, text, message):
    p = _write(tmp_path, "train.in", text)
    with pytest.raises(ConfigError, match=message):
        read_train_in(p)
    assert main(["train", str(p)]) == 2
    err = capsys.readouterr().err
    assert "train.in" in err and "Traceback" not in err


BAD_PREDICT = [
    ("TYPES\n1\nTi\nNETWORKS\nTi Ti.nn\nSTRUCTURES\n", r"predict.in, line 6: the keyword 'STRUCTURES' is not supported"),
    ("TYPES\n1\nTi\nNETWORKS\nO O.nn\n", r"predict.in, line 5: species 'O' of NETWORKS is not in TYPES"),
    ("TYPES\n2\nTi\nO\nNETWORKS\nTi Ti.nn\n", r"NETWORKS has 1 line\(s\) but TYPES lists 2"),
    ("TYPES\n1\nTi\nNETWORKS\nTi Ti.nn\nRELAX\nmethod=fire\n", r"predict.in, line 7: RELAX method must be bfgs"),
    ("TYPES\n1\nTi\nNETWORKS\nTi Ti.nn\nRELAX\nF_conv=0.1 maxstep=3\n", r"line 7: unknown parameter 'maxstep'"),
    ("NETWORKS\nTi Ti.nn\n", r"TYPES is missing"),
]


@pytest.mark.parametrize("text,message", BAD_PREDICT)
def test_bad_predict_in(tmp_path, capsys, text, message):
    p = _write(tmp_path, "predict.in", text)
    with pytest.raises(ConfigError, match=message):
        read_predict_in(p)
    assert main(["predict", str(p), str(tmp_path)]) == 2
    assert "predict.in" in capsys.readouterr().err
    assert main(["convert", str(p)]) == 2
    assert not (tmp_path / "predict.yaml").exists()


def test_not_an_aenet_file(tmp_path, capsys):
    p = _write(tmp_path, "notes.txt", "hello world\n")
    assert aenet_input_kind(p) is None
    assert main(["convert", str(p)]) == 2
    assert "not an ænet input file" in capsys.readouterr().err
    y = _write(tmp_path, "train.in", "trainset: x.h5\n")  # YAML under an .in name stays YAML
    assert aenet_input_kind(y) is None


def test_train_in_networks_must_match_the_training_set(golden, tmp_path, capsys):
    import shutil

    shutil.copy(golden / "trainset" / "ref.train", tmp_path / "ref.train")
    p = _write(tmp_path, "train.in", "TRAININGSET ref.train\nITERATIONS 1\nNETWORKS\nTi Ti.nn 1 2:t\n")
    assert main(["train", str(p)]) == 2
    err = capsys.readouterr().err
    assert "NETWORKS lists Ti, the training set" in err and "has the species Ti O" in err
    assert not (tmp_path / "model.h5").exists()


def test_train_in_on_a_set_without_setups_trains_but_writes_no_nn(golden, tmp_path, capsys):
    from anncli.workflows.convert_trainset import convert_aenet_trainset

    convert_aenet_trainset(golden / "trainset" / "ref.train.ascii", tmp_path / "ref.h5")
    p = _write(tmp_path, "train.in", "TRAININGSET ref.h5\nITERATIONS 2\nNETWORKS\nTi Ti.nn 1 2:t\nO O.nn 1 2:t\n")
    assert main(["train", str(p)]) == 2
    err = capsys.readouterr().err
    assert "model.h5 is trained and written, but it cannot be written as the ænet potentials" in err
    assert "cannot be computed by anncli: the training-set file holds no descriptor setup" in err
    assert (tmp_path / "model.h5").is_file() and not (tmp_path / "Ti.nn").exists()


def test_the_water_tutorials_train_in(shared_data, tmp_path):
    """The train.in of ænet's water-cluster tutorial (MLP-beginners-guide), as shipped."""
    from anncli.config.loader import validate_config
    from anncli.config.train import TrainConfig

    p = shared_data / "water-clusters" / "reference-ann" / "train.in"
    inp = read_train_in(p)
    c = inp.config
    assert (c["trainset"], c["validation_fraction"], c["epochs"]) == ("H2O.h5", 0.1, 100)
    assert c["optimizer"] == {"method": "lbfgs", "memory": 20}
    assert c["networks"] == {s: {"hidden": [10, 10], "activation": ["tanh", "tanh"]} for s in ("O", "H")}
    assert inp.networks_files == {"O": "O.10t-10t.nn", "H": "H.10t-10t.nn"}
    assert "results.csv" in " ".join(inp.notes[""])  # SAVE_ENERGIES
    validate_config(c, TrainConfig, source=p, base_dir=tmp_path)
