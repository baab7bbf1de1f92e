"""``anncli sample`` end to end: reproducibility, distance filter, farthest-point coverage, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write

from anncli.cli import main
from anncli.config.loader import load_config
from anncli.config.sample import SampleConfig
from anncli.sampling import generators as gen
from anncli.sampling.thinning import covering_radius, pool_fingerprints, random_covering_radius, select
from anncli.workflows import sample as sample_wf

CONFIG = """\
structures: [ideal.extxyz]
seed: {seed}
n: 14
min_atoms: 8
rattle: {{sigma: [0.03, 0.12], copies: 3}}
strain: {{isotropic: 4, anisotropic: 3, copies: 2}}
vacancies: {{count: 1, copies: 2}}
interstitials: {{species: [Cu], copies: 1}}
substitutions: {{replace: {{Cu: [Au], Au: [Cu]}}, copies: 2}}
surfaces: {{miller: [[1, 0, 0]], layers: 2, vacuum: 4}}
md: {{temperatures: [500], steps: 20, interval: 10}}
descriptors:
  default: {{type: chebyshev, radial: {{cutoff: 4.5, order: 4}}, angular: {{cutoff: 3.5, order: 2}}}}
"""


def _setup(path: Path, seed: int = 0, config: str = CONFIG) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    write(path / "ideal.extxyz", [bulk("Cu", "fcc", a=3.61), bulk("CuAu", "rocksalt", a=5.0)])
    (path / "sample.yaml").write_text(config.format(seed=seed))
    return path / "sample.yaml"


def test_same_seed_same_bytes_other_seed_other_candidates(tmp_path, capsys):
    outs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = _setup(tmp_path / name, seed)
        assert main(["-q", "sample", str(cfg)]) == 0
        outs.append(tmp_path / name / "sample")
    for f in ("candidates.extxyz", "summary.csv", "summary.json", "selection.png"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    assert (outs[0] / "candidates.extxyz").read_bytes() != (outs[2] / "candidates.extxyz").read_bytes()
    table = capsys.readouterr().out
    assert "rattle" in table and "covering radius" in table


def test_outputs_counts_and_provenance(tmp_path):
    cfg = _setup(tmp_path)
    config = load_config(cfg, SampleConfig)
    result = sample_wf.run(config, config_path=cfg, stdout=open("/dev/null", "w"))
    counts = result.counts
    # 2 ideals (Cu: 1 atom -> 8; CuAu rocksalt: 2 atoms -> 8)
    assert counts["ideal"]["generated"] == 2
    assert counts["rattle"]["generated"] == 2 * 2 * 3
    assert counts["strain-iso"]["generated"] == 4 and counts["strain-aniso"]["generated"] == 4
    assert counts["vacancy"]["generated"] == 4 and counts["interstitial"]["generated"] == 2
    assert counts["substitution"]["generated"] == 4 and counts["surface"]["generated"] == 2
    assert counts["md"]["generated"] == 2 * 2
    assert sum(c["selected"] for c in counts.values()) == 14
    selected = read(tmp_path / "sample" / "candidates.extxyz", ":")
    assert len(selected) == 14
    assert [a.info["kind"] for a in selected[:2]] == ["ideal", "ideal"]  # keep_ideal: they come first
    assert [a.info["fps_rank"] for a in selected] == list(range(1, 15))
    kinds = {a.info["kind"] for a in selected}
    assert len(kinds) >= 5  # the selection spreads over the kinds
    for a in selected:  # vacancies have 7 atoms, interstitials 9, surfaces more
        k = a.info["kind"]
        n0 = 8
        expected = {"vacancy": n0 - 1, "interstitial": n0 + 1}.get(k)
        if expected is not None:
            assert len(a) == expected
        assert a.calc is None or not a.calc.results  # structures to compute, no labels
    summary = json.loads((tmp_path / "sample" / "summary.json").read_text())
    assert summary["n_selected"] == 14 and summary["covering_radius"] == pytest.approx(result.covering_radius)
    rows = (tmp_path / "sample" / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(c["generated"] for c in counts.values())
    assert sum(r.split(",")[-2] == "selected" for r in rows[1:]) == 14


def test_no_atoms_closer_than_min_distance(tmp_path):
    config = CONFIG.replace("rattle: {{sigma: [0.03, 0.12], copies: 3}}", "rattle: {{sigma: [0.5], copies: 12}}")
    config = config.replace("n: 14", "n: null") + "min_distance: 1.6\nwrite_pool: true\n"
    cfg = _setup(tmp_path, config=config)
    result = sample_wf.run(load_config(cfg, SampleConfig), config_path=cfg, stdout=open("/dev/null", "w"))
    assert result.counts["rattle"]["dropped"] > 0  # sigma 0.5 Å brings atoms together
    assert sum(c["dropped"] for c in result.counts.values()) == len(result.dropped)
    assert all(gen.min_distance(a) < 1.6 for a in result.dropped)
    for a in read(tmp_path / "sample" / "pool.extxyz", ":"):
        assert gen.min_distance(a) >= 1.6
    assert len(read(tmp_path / "sample" / "candidates.extxyz", ":")) == len(result.pool)  # n: null keeps all


def test_fps_covers_feature_space_better_than_random():
    # clustered structures: 3 lattice constants x many small rattles; FPS must reach every cluster
    rng = np.random.default_rng(0)
    images = []
    for a in (3.5, 3.61, 3.8):
        for _ in range(15):
            images.append(gen.rattle(bulk("Cu", "fcc", a=a, cubic=True), 0.02, rng))
    images.append(gen.rattle(bulk("Cu", "fcc", a=3.61, cubic=True), 0.25, rng))  # one outlier
    from anncli.workflows.generate import build_setups

    setups = build_setups({"default": {"type": "chebyshev", "radial": {"cutoff": 4.5, "order": 4},
                                       "angular": {"cutoff": 3.5, "order": 2}}}, ["Cu"])
    x = pool_fingerprints(images, setups)
    for n in (4, 8):
        chosen = select(x, n)
        assert len(set(chosen.tolist())) == n
        assert covering_radius(x, chosen) < random_covering_radius(x, n, [], seed=0)
    # the first four picks reach all three lattice constants and the outlier
    groups = {min(int(i) // 15, 3) for i in select(x, 4)}
    assert groups == {0, 1, 2, 3}
    # a rattled copy is distinguished from the ideal one (the spread block)
    ideal = bulk("Cu", "fcc", a=3.61, cubic=True)
    y = pool_fingerprints([ideal, gen.rattle(ideal, 0.1, rng)], setups)
    assert np.linalg.norm(y[0] - y[1]) > 0.5


def test_covering_radius_by_brute_force():
    """The covering radius the summary reports: the largest distance of a row to its nearest
    chosen row (plain numpy); random selections that must keep given rows keep them."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(25, 3))
    chosen = [4, 11, 17]
    d = np.linalg.norm(x[:, None, :] - x[None, chosen, :], axis=2)
    assert covering_radius(x, chosen) == pytest.approx(d.min(axis=1).max(), rel=1e-14)
    assert covering_radius(x, range(25)) == 0.0 and covering_radius(x, []) == float("inf")
    assert random_covering_radius(x, 25, [], seed=1) == 0.0  # every row chosen
    # nothing left to draw: the radius of the kept rows themselves
    assert random_covering_radius(x, 3, chosen, seed=1) == pytest.approx(d.min(axis=1).max(), rel=1e-14)


def test_select_starts_from_kept_rows_and_never_repeats():
    x = np.array([[0.0], [0.0], [0.0], [5.0], [1.0]])
    chosen = select(x, 5, keep=[2])
    assert chosen[0] == 2 and chosen[1] == 3 and sorted(chosen.tolist()) == [0, 1, 2, 3, 4]


def test_existing_output_needs_overwrite(tmp_path, capsys):
    cfg = _setup(tmp_path, config=CONFIG.replace("md: {{temperatures: [500], steps: 20, interval: 10}}\n", ""))
    assert main(["-q", "sample", str(cfg)]) == 0
    assert main(["-q", "sample", str(cfg)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["-q", "sample", str(cfg), "--overwrite"]) == 0


@pytest.mark.parametrize("snippet, message", [
    ("md: {calculator: {name: nosuchcalc}}\n", "no calculator named 'nosuchcalc'"),
    ("md: {calculator: {name: gpaw}}\n", "'gpaw', which is not installed"),
    ("interstitials: {species: [Xx]}\n", "'Xx' is not a chemical symbol"),
    ("strain: {copies: 0}\n", "strain.copies"),
    ("md: {steps: 10, interval: 20}\n", "md.interval"),
    ("surfaces: {miller: [[0, 0, 0]]}\n", "surfaces.miller[0]"),
    ("rattle: {sigmas: [0.1]}\n", "did you mean 'sigma'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, snippet, message):
    cfg = _setup(tmp_path, config="structures: [ideal.extxyz]\n" + snippet.replace("{", "{{").replace("}", "}}"))
    assert main(["sample", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_md_calculator_failure_names_structure(tmp_path, capsys):
    cfg = tmp_path / "sample.yaml"
    write(tmp_path / "si.extxyz", bulk("Si", "diamond", a=5.43))
    cfg.write_text("structures: [si.extxyz]\nmd: {steps: 10, interval: 5}\n")
    assert main(["sample", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "md: the calculator emt failed on si.extxyz" in err
