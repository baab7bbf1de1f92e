"""benchmarks/bench_tio2.py --quick runs end to end on TiO2-1000, and the errors it reports are
those of the validation structures: for a force-trained model they equal the validation
energy and force RMSE that training logged for the saved (best) epoch."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from script_module import load_script

REPO = Path(__file__).resolve().parents[2]


def _bench():
    return load_script(REPO / "benchmarks" / "bench_tio2.py")


def test_quick_path_reports_the_validation_errors(shared_path, tmp_path, capsys):
    data = shared_path("TiO2-1000/xsf").parent
    bench = _bench()
    bench.main(["--quick", "--data", str(data), "--keep", str(tmp_path)])
    out = capsys.readouterr().out
    result = out.strip().splitlines()[-1]
    assert result.startswith("RESULT ")
    values = dict(kv.split("=") for kv in result.split()[1:])
    for key in ("recipe_energy_mev", "recipe_force_ev_a", "small_energy_mev", "small_force_ev_a",
                "eonly_energy_mev", "taylor1x0.01single_energy_mev"):
        assert float(values[key]) > 0.0, key

    # The force-trained recipe model: the Potential API on the validation structures gives
    # what training logged for the best epoch (float32 derivative data in training).
    from anncli.potential.model_file import load_model

    model = tmp_path / "recipe-1.h5"
    best = int(load_model(model).metadata["best_epoch"])
    with (tmp_path / "recipe-1" / "learning_curve.csv").open() as fh:
        row = {int(r["epoch"]): r for r in csv.DictReader(fh)}[best]
    e, f, sources = bench.validation_errors(tmp_path / "recipe-1", model)
    assert e == pytest.approx(float(row["val_rmse"]), rel=1e-3)
    assert f == pytest.approx(float(row["val_force_rmse"]) / 1000.0, rel=1e-3)
    assert len(sources) == 6  # 10 % of the 60 structures of --quick

    # With Taylor copies only the parents count, and they are those held out without copies.
    _, _, taylor_sources = bench.validation_errors(tmp_path / "taylor1x0.01single-1",
                                                   tmp_path / "taylor1x0.01single-1.h5")
    _, _, plain_sources = bench.validation_errors(tmp_path / "eonly-1", tmp_path / "eonly-1.h5")
    assert taylor_sources == plain_sources
