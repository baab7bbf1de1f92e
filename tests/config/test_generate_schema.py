"""The generate schema: the example input, value checks and cross-field checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from anncli.config.generate import GenerateConfig
from anncli.config.loader import load_config
from anncli.config.reference import config_reference
from anncli.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_inputs" / "generate.yaml"

BASE = """\
structures:
  - data/*.xsf
reference_energies:
  Cu: -0.5
  Au: -0.25
descriptors:
  default:
    type: chebyshev
    radial: {cutoff: 6.0, order: 10}
    angular: {cutoff: 4.0, order: 4}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # messages then show the relative name 'gen.yaml'


def load(tmp_path: Path, text: str) -> GenerateConfig:
    (tmp_path / "gen.yaml").write_text(text)
    return load_config("gen.yaml", GenerateConfig)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_example_input_is_valid(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "generate.yaml")
    cfg = load_config(tmp_path / "generate.yaml", GenerateConfig)
    assert cfg.structures == ["data/*.xsf"]
    assert list(cfg.reference_energies) == ["Cu", "Au"]
    assert cfg.output == tmp_path / "trainset.h5"
    d = cfg.descriptors["default"]
    assert (d.type, d.radial.cutoff, d.radial.order, d.angular.cutoff, d.angular.order) == ("chebyshev", 6.0, 10, 4.0, 4)
    assert (cfg.missing_energy, cfg.min_distance, cfg.derivatives, cfg.n_threads) == ("error", 0.1, False, None)


def test_commented_behler_block_of_the_example_is_valid(tmp_path):
    text = BASE + """\
  Au:
    type: Behler2011
    env: [Cu, Au]
    functions:
      - {G: 2, type2: Cu, eta: 0.05, Rs: 0.0, Rc: 6.0}
      - {G: 4, type2: Cu, type3: Au, eta: 0.005, lambda: 1, zeta: 2, Rc: 6.0}
      - {G: 1, type2: Au, Rc: 5}
"""
    cfg = load(tmp_path, text)
    fns = cfg.descriptors["Au"].functions
    assert cfg.descriptors["Au"].type == "behler2011"
    assert fns[1].lambda_ == 1 and fns[1].model_dump(by_alias=True)["lambda"] == 1
    assert fns[2].Rc == 5.0 and isinstance(fns[2].Rc, float)


def test_negative_cutoff_names_key_and_line(tmp_path):
    msg = error(tmp_path, BASE.replace("cutoff: 6.0", "cutoff: -1"))
    assert msg == "gen.yaml, line 9: descriptors.default.radial.cutoff: expected a number > 0, got -1"


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("order: 10", "order: 2.5", r"line 9: descriptors.default.radial.order: expected an integer, got 2.5"),
        ("order: 10", "order: [1]", r"line 9: descriptors.default.radial.order: expected an integer, got a list"),
        ("cutoff: 6.0", "cutoff: abc", r"line 9: descriptors.default.radial.cutoff: expected a number, got 'abc'"),
        ("cutoff: 6.0", "cutoff: '6.0'", r"cutoff: expected a number, got '6.0'"),
        ("cutoff: 6.0", "cutoff: true", r"cutoff: expected a number, got true"),
        ("Cu: -0.5", "Cu: [1]", r"line 4: reference_energies.Cu: expected a number or 'fit', got a list"),
        ("  - data/*.xsf", "  - 3", r"line 2: structures\[0\]: expected text, got 3"),
        ("cutoff: 6.0", "cutof: 6.0", r"line 9: descriptors.default.radial.cutof: unknown key 'cutof'; did you mean 'cutoff'\?"),
        ("type: chebyshev", "type: gaussian", r"line 8: descriptors.default.type: expected chebyshev, behler2011 or aenet, got 'gaussian'"),
        ("    type: chebyshev\n", "", r"line 7: descriptors.default: missing required key 'type'"),
        ("    angular: {cutoff: 4.0, order: 4}\n", "", r"line 7: descriptors.default: missing required key 'angular'"),
        ("  Au: -0.25", "  Xx: -0.25", r"line 5: reference_energies.Xx: 'Xx' is not a chemical symbol"),
        ("  Au: -0.25", "  au: -0.25", r"'au' is not a chemical symbol; did you mean 'Au'\?"),
    ],
)
def test_bad_values(tmp_path, old, new, expected):
    text = BASE.replace(old, new, 1)
    assert text != BASE
    assert re.search(expected, error(tmp_path, text))


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("min_distance: -0.1\n", r"min_distance: expected a number >= 0, got -0.1"),
        ("max_force: 0\n", r"max_force: expected a number > 0, got 0"),
        ("n_threads: 0\n", r"n_threads: expected an integer >= 1, got 0"),
        ("missing_energy: ignore\n", r"missing_energy: expected 'error' or 'skip', got 'ignore'"),
        ("overwrite: 1\n", r"overwrite: expected true or false, got 1"),
        ("outptu: x.h5\n", r"line 11: outptu: unknown key 'outptu'; did you mean 'output'\?"),
        ("units: {energy: eV, length: furlong}\n", r"line 11: units.length: unknown length unit 'furlong'"),
        ("structures: []\n", r"duplicate key 'structures'"),
    ],
)
def test_bad_top_level_values(tmp_path, extra, expected):
    assert re.search(expected, error(tmp_path, BASE + extra))


def test_empty_structure_list(tmp_path):
    msg = error(tmp_path, BASE.replace("structures:\n  - data/*.xsf\n", "structures: []\n"))
    assert "line 1: structures: expected at least 1 item, got a list" in msg


def test_every_species_needs_a_descriptor(tmp_path):
    text = BASE.replace("  default:", "  Cu:")
    assert "line 6: descriptors: no descriptor for species Au" in error(tmp_path, text)


def test_descriptor_for_unknown_species(tmp_path):
    text = BASE + "  Ti:\n    type: chebyshev\n    radial: {cutoff: 5, order: 3}\n    angular: {cutoff: 3, order: 2}\n"
    assert "line 11: descriptors.Ti: species Ti is not in reference_energies (Cu, Au)" in error(tmp_path, text)


def test_env_species_must_be_known_and_unique(tmp_path):
    msg = error(tmp_path, BASE + "    env: [Cu, Ti]\n")
    assert "line 11: descriptors.default.env[1]: env species Ti is not in reference_energies" in msg
    msg = error(tmp_path, BASE + "    env: [Cu, Cu]\n")
    assert "descriptors.default.env[1]: species Cu is listed twice" in msg


def test_weights_must_match_env(tmp_path):
    msg = error(tmp_path, BASE + "    weights: [1.0]\n")  # env defaults to Cu, Au
    assert "line 11: descriptors.default.weights: expected 2 weights" in msg
    msg = error(tmp_path, BASE + "    env: [Cu, Au]\n    weights: [1, 2, 3]\n")
    assert "descriptors.default.weights: expected 2 weights" in msg
    cfg = load(tmp_path, BASE + "    env: [Au, Cu]\n    weights: [-1, 1]\n")
    assert cfg.descriptors["default"].weights == [-1.0, 1.0]


@pytest.mark.parametrize(
    "fn, expected",
    [
        ("{G: 2, type2: Cu, Rc: 6.0}", r"functions\[0\]: G=2 needs 'eta'"),
        ("{G: 4, type2: Cu, type3: Au, eta: 0.1, lambda: 0.5, zeta: 2, Rc: 6}", r"functions\[0\].lambda: expected -1 or 1, got 0.5"),
        ("{G: 4, type2: Cu, type3: Au, eta: 0.1, lambda: 1, zeta: 0, Rc: 6}", r"functions\[0\].zeta: expected a number >= 1, got 0"),
        ("{G: 6, type2: Cu, Rc: 6}", r"functions\[0\].G: expected an integer <= 5, got 6"),
        ("{G: 1, type2: Ti, Rc: 6}", r"functions\[0\].type2: type2 Ti is not an environment species \(Cu, Au\)"),
        ("{G: 1, type2: Cu, Rc: 6, zeta: 1}", r"functions\[0\].zeta: 'zeta' is not a parameter of G=1"),
        ("{G: 2, type2: Cu, eta: -1, Rc: 6}", r"functions\[0\].eta: expected a number >= 0, got -1"),
    ],
)
def test_behler_functions(tmp_path, fn, expected):
    text = BASE + f"  Au:\n    type: behler2011\n    functions:\n      - {fn}\n"
    msg = error(tmp_path, text)
    assert "line 14: descriptors.Au." in msg
    assert re.search(expected, msg)


def test_behler_g2_rs_defaults_to_zero(tmp_path):
    cfg = load(tmp_path, BASE + "  Au:\n    type: behler2011\n    functions:\n      - {G: 2, type2: Cu, eta: 0.1, Rc: 6}\n")
    assert cfg.descriptors["Au"].functions[0].Rs == 0.0


def test_at_most_five_error_lines(tmp_path):
    text = BASE + "".join(f"bad{i}: 1\n" for i in range(3)) + "min_distance: x\nmax_force: x\nn_threads: x\nderivatives: x\n"
    msg = error(tmp_path, text)
    lines = msg.splitlines()
    assert len(lines) <= 6 and lines[-1].startswith("... and ")


def test_reference_lists_every_key_with_its_default():
    table = config_reference(GenerateConfig)
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines()[2:]}
    for name, info in GenerateConfig.model_fields.items():
        assert name in rows
        default = "required" if info.is_required() else None
        if default:
            assert "`required`" in rows[name]
    assert "`trainset.h5`" in rows["output"] and "`0.1`" in rows["min_distance"]
    assert "`error`" in rows["missing_energy"] and "`false`" in rows["overwrite"]
    assert "`eV`" in rows["units.energy"] and "`Angstrom`" in rows["units.length"]
    for key in ("radial.cutoff", "radial.order", "angular.cutoff", "weights", "functions[].lambda", "functions[].Rc"):
        assert f"descriptors.<species>.{key}" in rows
    assert all(line.count("|") >= 5 for line in table.splitlines())


def test_angular_cutoff_beyond_radial_is_an_error(tmp_path):
    from anncli.config.generate import GenerateConfig
    from anncli.config.loader import load_config
    from anncli.exceptions import ConfigError

    path = tmp_path / "gen.yaml"
    path.write_text(
        "structures: [x.xsf]\nreference_energies: {Cu: 0}\ndescriptors:\n  default:\n"
        "    type: chebyshev\n    radial: {cutoff: 5.0, order: 8}\n    angular: {cutoff: 6.5, order: 4}\n"
    )
    with pytest.raises(ConfigError, match=r"line 7: descriptors\.default\.angular\.cutoff: the angular cutoff \(6\.5 Å\) must not exceed"):
        load_config(path, GenerateConfig)


# ------------------------------------------------------------------ ænet .stp files: read after validation

STP = """ATOM {central}
ENV 2
Cu
{other}
BASIS type=Chebyshev
radial_Rc = 6.0  radial_N = 8 angular_Rc = 4.0d0  angular_N = 3
"""
AENET = BASE + "  Au:\n    type: aenet\n    file: setups/Au.stp\n"


def test_validation_reads_no_setup_file(tmp_path):
    """The schema is a description of the input: a missing .stp file is not its business."""
    from anncli.config.generate import AenetSetupDescriptor

    cfg = load(tmp_path, AENET)
    desc = cfg.descriptors["Au"]
    assert isinstance(desc, AenetSetupDescriptor) and desc.file == tmp_path / "setups" / "Au.stp"


def test_read_setup_files_gives_the_setup_of_the_file(tmp_path):
    from anncli.config.generate import ChebyshevDescriptor, read_setup_files

    (tmp_path / "setups").mkdir()
    (tmp_path / "setups" / "Au.stp").write_text(STP.format(central="Au", other="Au"))
    cfg = load(tmp_path, AENET)
    resolved = read_setup_files(cfg, source="gen.yaml")
    au = resolved.descriptors["Au"]
    assert isinstance(au, ChebyshevDescriptor) and au.env == ["Cu", "Au"]
    assert (au.radial.cutoff, au.radial.order, au.angular.cutoff, au.angular.order) == (6.0, 8, 4.0, 3)
    assert resolved.descriptors["default"] == cfg.descriptors["default"]
    assert read_setup_files(resolved) is resolved  # nothing left to read


@pytest.mark.parametrize("stp,fragments", [
    (None, ["cannot read", "Au.stp"]),
    (STP.format(central="Au", other="Au").replace("radial_N = 8", "radial_N = x"),
     ["Au.stp, line 6: radial_N must be an integer"]),
    (STP.format(central="Cu", other="Au"), ["is the setup of Cu (ATOM Cu), not of Au"]),
    (STP.format(central="Au", other="Ag"), ["Au.stp: env[1]: env species Ag is not in reference_energies"]),
    (STP.format(central="Au", other="Au").replace("angular_Rc = 4.0d0", "angular_Rc = 7.0"),
     ["Au.stp: angular.cutoff: the angular cutoff (7 Å) must not exceed the radial cutoff"]),
])
def test_bad_setup_file_names_input_line_key_and_file(tmp_path, stp, fragments):
    from anncli.config.generate import read_setup_files

    if stp is not None:
        (tmp_path / "setups").mkdir()
        (tmp_path / "setups" / "Au.stp").write_text(stp)
    cfg = load(tmp_path, AENET)
    with pytest.raises(ConfigError) as info:
        read_setup_files(cfg, source="gen.yaml")
    msg = str(info.value)
    assert msg.startswith("gen.yaml, line 13: descriptors.Au.file: "), msg
    for fragment in fragments:
        assert fragment in msg, msg


def test_aenet_setup_under_default_is_refused_by_the_schema(tmp_path):
    msg = error(tmp_path, BASE.replace("    type: chebyshev\n    radial: {cutoff: 6.0, order: 10}\n"
                                       "    angular: {cutoff: 4.0, order: 4}\n",
                                       "    type: aenet\n    file: x.stp\n"))
    assert "gen.yaml, line 7: descriptors.default: an ænet setup file describes one species" in msg


@pytest.mark.parametrize("old,new,key", [
    ("Cu: -0.5", "Cu: .nan", "reference_energies.Cu"),
    ("cutoff: 6.0", "cutoff: .inf", "descriptors.default.radial.cutoff"),
    ("structures:", "min_distance: .inf\nstructures:", "min_distance"),
])
def test_nan_and_inf_are_refused(tmp_path, old, new, key):
    """YAML's .nan/.inf passed every bound check (nan reference energies gave nan cohesive energies)."""
    msg = error(tmp_path, BASE.replace(old, new, 1))
    assert f": {key}: expected a finite number, got " in msg, msg


@pytest.mark.parametrize("old,new,key,limit", [
    ("angular: {cutoff: 4.0, order: 4}", "angular: {cutoff: 4.0, order: 1000000000000}", "angular", 50),
    ("radial: {cutoff: 6.0, order: 10}", "radial: {cutoff: 6.0, order: 1001}", "radial", 1000),
])
def test_chebyshev_order_has_an_upper_limit(tmp_path, old, new, key, limit):
    """An order of 10**12 passed the schema and then hung (angular tables grow as N**3)."""
    msg = error(tmp_path, BASE.replace(old, new))
    assert f"descriptors.default.{key}.order: expected an integer <= {limit}, got" in msg, msg
    load(tmp_path, BASE.replace(old, new.replace("1000000000000", "50").replace("1001", "1000")))
