"""Fuzz ænet's keyword inputs (.stp setup files and generate.in): a setup or a ConfigError.

A mutated file that still parses must also survive the rest of the input path: its setup is
validated by the generate schema and built into a descriptor (what ``anncli generate`` does
before it reads any structure), again with a ConfigError as the only way to fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import REPO, expect_clean, fuzz_settings, mutate_text, shared_data_dir
from anncli.config.generate import GenerateConfig
from anncli.config.loader import validate_config
from anncli.exceptions import ConfigError
from anncli.io.aenet_inputs import descriptor_entry, read_generate_in, read_stp
from anncli.workflows.generate import build_setups

CHEB = """! Chebyshev setup
DESCR
  free text, even with keywords: ATOM Xx
END DESCR
atom Ti
env 2
Ti
O
RMIN 0.75d0
basis type=chebyshev
radial_Rc = 8.0  radial_N = 16 angular_Rc = 6.5d0  angular_N = 4
"""
BEHLER = """ATOM O
ENV 2
O
H
RMIN 0.5
SYMMFUNC type=Behler2011
6
G=1 type2=H Rc=6.0
G=2 type2=O eta=0.25 Rs=1.5d0 Rc = 5.0
G=3 type2=H kappa=1.0 Rc=6.0
G=4 type2=O type3=H zeta=2.0 lambda=-1 eta=0.5 Rc=6.0
G=5 type2=H type3=H zeta=1.0 lambda=1 eta=0.05 Rc=6.0
G=2 type2=H eta=1.0 Rc=4.0
"""
GENERATE_IN = """# generate.in written by hand
OUTPUT refdata.train   ! comment
TYPES
2
Ti  -1604.604515075  ! eV
O   -432.503149303d0

SETUPS
Ti Ti.stp
O  'O.stp'
TIMING
FORCES
FILES
2
a.xsf
"/abs/b.xsf"
"""


def _stp_seeds() -> list[str]:
    paths = sorted((REPO / "tests" / "descriptors" / "data").glob("*.stp"))
    root = shared_data_dir()
    if root is not None:
        paths += sorted((root / "water-clusters" / "reference-ann").glob("*.stp"))
        paths += sorted((root / "aenet-golden" / "trainset").glob("*.stp"))
    return [CHEB, BEHLER] + [p.read_text() for p in paths]


def _generate_seeds() -> list[str]:
    seeds = [GENERATE_IN]
    root = shared_data_dir()
    if root is not None:
        seeds.append((root / "aenet-golden" / "trainset" / "generate.in").read_text())
        head = (root / "water-clusters" / "reference-ann" / "generate.in.head").read_text()
        seeds.append(head + "2\na.xsf\nb.xsf\n")
    return seeds


STP_SEEDS = _stp_seeds()
GENERATE_SEEDS = _generate_seeds()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz-aenet")
    # the setup files the generate.in seeds name (valid: the fuzzing is in generate.in)
    for name, text in (("Ti.stp", CHEB), ("O.stp", CHEB.replace("atom Ti", "ATOM O")),
                       ("H.fingerprint.stp", BEHLER.replace("ATOM O", "ATOM H")),
                       ("O.fingerprint.stp", BEHLER)):
        (d / name).write_text(text)
    return d


def _use_setup(setup) -> None:
    """What generate does with a setup read from an .stp file: schema, then descriptor."""
    central = setup.central if hasattr(setup, "central") else setup["central"]
    entry = descriptor_entry(setup)
    species = list(dict.fromkeys([central, *entry["env"]]))
    cfg = validate_config({"structures": ["x.xsf"], "reference_energies": {s: 0.0 for s in species},
                           "descriptors": {central: entry, "default": entry}}, GenerateConfig, source="fuzz.yaml")
    build_setups(dict(cfg.descriptors), list(cfg.reference_energies))


def _check_stp(path: Path) -> None:
    result = expect_clean(read_stp, path, allowed=(ConfigError,))
    if isinstance(result, ConfigError):
        assert str(path) in str(result), result
        return
    expect_clean(_use_setup, result, allowed=(ConfigError,))


def test_seeds_are_valid(workdir):
    for k, text in enumerate(STP_SEEDS):
        path = workdir / f"seed{k}.stp"
        path.write_text(text)
        _use_setup(read_stp(path))
    for k, text in enumerate(GENERATE_SEEDS):
        path = workdir / f"generate{k}.in"
        path.write_text(text)
        validate_config(read_generate_in(path), GenerateConfig, source=path)


@fuzz_settings(250)
@given(data=st.data())
def test_mutated_stp(workdir, data):
    text = mutate_text(data, data.draw(st.sampled_from(STP_SEEDS), label="seed"), max_mutations=4)
    path = workdir / "mutated.stp"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _check_stp(path)


@fuzz_settings(50)
@given(text=st.text(alphabet="ATOMENVBASISFUNCTIONStypeChebyshvBlr2011=GRcn_ \n!#0123456789.-dDe",
                    max_size=200))
def test_random_stp(workdir, text):
    path = workdir / "random.stp"
    path.write_text(text)
    _check_stp(path)


@fuzz_settings(150)
@given(data=st.data())
def test_mutated_generate_in(workdir, data):
    text = mutate_text(data, data.draw(st.sampled_from(GENERATE_SEEDS), label="seed"), max_mutations=4)
    path = workdir / "generate.in"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    result = expect_clean(read_generate_in, path, allowed=(ConfigError,))
    if isinstance(result, dict):
        cfg = expect_clean(validate_config, result, GenerateConfig, source=path, allowed=(ConfigError,))
        if not isinstance(cfg, ConfigError):
            expect_clean(build_setups, dict(cfg.descriptors), list(cfg.reference_energies),
                         allowed=(ConfigError,))
