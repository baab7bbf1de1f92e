"""``anncli convert file.train``, then ``anncli train`` and ``anncli predict`` on the result."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from anncli.cli import main
from anncli.log import reset_logging


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def _train_yaml(path, trainset):
    path.write_text(textwrap.dedent(f"""\
        trainset: {trainset}
        output: model.h5
        epochs: 3
        seed: 1
        validation_fraction: 0.2
        networks: {{default: {{hidden: [4], activation: tanh}}}}
        """))
    return path


def _predict_yaml(path, structures):
    path.write_text(f"model: model.h5\nstructures: [{structures}]\nforces: false\n"
                    "output: {extxyz: null, csv: null}\n")
    return path


def test_convert_train_predict(golden, tmp_path, capsys):
    g = golden / "trainset"
    shutil.copy(g / "ref.train", tmp_path / "ref.train")
    assert main(["convert", str(tmp_path / "ref.train")]) == 0
    out = capsys.readouterr().out
    assert "ref.h5: 5 structures, 76 atoms" in out and "Ti: descriptor chebyshev" in out
    assert main(["train", str(_train_yaml(tmp_path / "train.yaml", "ref.h5"))]) == 0
    assert (tmp_path / "model.h5").is_file()
    assert main(["predict", str(_predict_yaml(tmp_path / "predict.yaml", g / "xsf"))]) == 0
    assert "TiO_skew_30.xsf" in capsys.readouterr().out
    # a second conversion does not replace the file silently
    assert main(["convert", str(tmp_path / "ref.train")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "ref.train"), "--overwrite", "-o", str(tmp_path / "x.h5")]) == 0


def test_text_without_setups_trains_but_does_not_predict(golden, tmp_path, capsys):
    g = golden / "trainset"
    assert main(["convert", str(g / "ref.train.ascii"), "-o", str(tmp_path / "a.h5")]) == 0
    out, err = capsys.readouterr()
    assert "Ti: descriptor unavailable: the training-set file holds no descriptor setup" in out
    assert "Training works; predicting with the model does not" in err
    assert main(["train", str(_train_yaml(tmp_path / "train.yaml", "a.h5"))]) == 0
    capsys.readouterr()
    assert main(["predict", str(_predict_yaml(tmp_path / "predict.yaml", g / "xsf"))]) == 2
    err = capsys.readouterr().err
    assert "cannot be computed by anncli: the training-set file holds no descriptor setup" in err
    assert "Traceback" not in err


def test_bad_input_exit_2(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing.train")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.train").write_bytes(b"\x04\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00"
                                          b"\x04\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00")
    assert main(["convert", str(tmp_path / "junk.train")]) == 2
    err = capsys.readouterr().err
    assert "junk.train" in err and "Traceback" not in err
    assert not (tmp_path / "junk.h5").exists()


def test_a_potential_is_not_a_training_set(golden, capsys):
    assert main(["convert", str(golden / "predict-TiO2" / "Ti.nn"), "-o", "/nonexistent/x.h5"]) == 2
    err = capsys.readouterr().err
    assert "not an ænet training-set file" in err and "aenet_networks" in err
