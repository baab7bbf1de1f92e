"""The schema of the ``anncli generate`` input file (see ``example_inputs/generate.yaml``).

:class:`GenerateConfig` is the single source of truth for the keys, their types, their
defaults and their documentation (``anncli.config.reference.config_reference``
renders it as the reference table).  Cross-field checks (every species has a
descriptor, environment species are known, weights match the environment) run after
the individual values are valid.  The schema describes the input and reads no file: a
``type: aenet`` descriptor names its .stp file, which :func:`read_setup_files` reads after
validation (the generate workflow calls it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AllowInfNan,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from anncli.config.base import Bool, InputPath, Int, Section, SectionError, Str, _describe
from anncli.config.base import Float as _Number

__all__ = [
    "GenerateConfig",
    "TaylorAugmentation",
    "Baseline",
    "BaselineCalculator",
    "read_setup_files",
    "Units",
    "ChebyshevTerm",
    "ChebyshevDescriptor",
    "BehlerFunction",
    "Behler2011Descriptor",
    "Descriptor",
    "EnergyKind",
    "ENERGY_KEY_DESCRIPTION",
    "FORCES_KEY_DESCRIPTION",
    "ENERGY_UNITS",
    "LENGTH_UNITS",
]

ENERGY_UNITS = ("eV", "Hartree", "Ry", "kcal/mol", "kJ/mol")
LENGTH_UNITS = ("Angstrom", "Bohr", "nm")

#: A finite number: YAML's .nan and .inf are refused (a nan reference energy or cutoff would
#: pass every bound check and give nan features or energies).
Float = Annotated[_Number, AllowInfNan(False)]
PositiveFloat = Annotated[Float, Field(gt=0)]

#: The ``energy`` key of the generate and predict input (kinds: :mod:`anncli.structure`).
EnergyKind = Literal["free", "zero_kelvin", "total"]
ENERGY_KEY_DESCRIPTION = ("Key of the reference energy in files that store it under a name of their own, e.g. "
                          "REF_energy in extxyz data sets made for MACE; null = the file's energy (see 'energy').")
FORCES_KEY_DESCRIPTION = ("Per-atom column of the reference forces in such files, e.g. REF_forces; "
                          "null = the file's forces.")
ENERGY_DESCRIPTION = (
    "Which energy of the structure files is the reference: free = the force-consistent "
    "(Mermin free) energy F = E - TS that the forces belong to (ASE's free_energy: VASP TOTEN / "
    "e_fr_energy, Quantum ESPRESSO's '!' total energy, extxyz free_energy); zero_kelvin = the "
    "energy extrapolated to zero smearing (ASE's energy where the file also gives free_energy: "
    "VASP energy(sigma->0) / e_0_energy; not in QE output); total = the file's 'energy' as it "
    "is (extxyz energy, ænet XSF total energy). null = free where the file has it, else the "
    "file's energy. A structure that has an energy but not the kind asked for is an error."
)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _chemical_symbols() -> frozenset[str]:
    from ase.data import chemical_symbols

    return frozenset(chemical_symbols[1:])


def _check_symbol(symbol: str, *path: str | int) -> None:
    if symbol not in _chemical_symbols():
        hint = ""
        cap = symbol[:1].upper() + symbol[1:].lower()
        if cap != symbol and cap in _chemical_symbols():
            hint = f"; did you mean '{cap}'?"
        raise SectionError(f"'{symbol}' is not a chemical symbol{hint}", *path)


def _check_env(env: list[str] | None) -> list[str] | None:
    if env is None:
        return None
    seen: set[str] = set()
    for i, sym in enumerate(env):
        _check_symbol(sym, i)
        if sym in seen:
            raise SectionError(f"species {sym} is listed twice", i)
        seen.add(sym)
    return env


def _whole_fit(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == "fit":
        raise SectionError(
            "'fit' needs the species: write one entry per species, e.g. {Ti: fit, O: fit} "
            "(the order sets the species order; numbers and 'fit' can be mixed)"
        )
    return value


def _number_or_fit(value: Any) -> Any:
    if value == "fit" or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise SectionError(f"expected a number or 'fit', got {_describe(value)}")


class Units(Section):
    """Units of the structure files; anncli converts to eV and Å on reading."""

    energy: Str = Field("eV", description="Energy unit of the structure files: " + " | ".join(ENERGY_UNITS) + ".")
    length: Str = Field("Angstrom", description="Length unit of the structure files: " + " | ".join(LENGTH_UNITS) + ".")

    @model_validator(mode="after")
    def _known_units(self) -> "Units":
        try:
            from anncli.units import energy_factor, length_factor
        except ImportError:  # units module not available: the literal sets
            energy_factor = length_factor = None
        for key, allowed, factor in (("energy", ENERGY_UNITS, energy_factor), ("length", LENGTH_UNITS, length_factor)):
            value = getattr(self, key)
            if factor is not None:
                try:
                    factor(value)
                except ValueError as exc:  # ConfigError naming the unit and the known ones
                    raise SectionError(str(exc).split("\n")[0].rstrip("."), key) from None
            elif value not in allowed:
                raise SectionError(f"expected one of {', '.join(allowed)}, got {value!r}", key)
        return self


#: Highest Chebyshev orders accepted.  The angular tables grow as N**3 (order 100: 2.5 s to set
#: up, 300: 70 s) and the power-series form of T_N loses precision fast above ~16; the radial
#: features grow as N.  A mistyped order (10**12) would otherwise hang or exhaust memory.
MAX_CHEBYSHEV_ORDER = {"radial": 1000, "angular": 50}


class ChebyshevTerm(Section):
    """Radial or angular part of a Chebyshev descriptor."""

    cutoff: PositiveFloat = Field(description="Cutoff radius (Å).")
    order: Annotated[Int, Field(ge=0)] = Field(
        description="Polynomial order N: N+1 functions (ænet's radial_N / angular_N)."
    )


class ChebyshevDescriptor(Section):
    """Chebyshev descriptor of Artrith, Urban and Ceder (ænet ``BASIS type=Chebyshev``)."""

    type: Annotated[Literal["chebyshev"], BeforeValidator(_lower)] = Field(description="Descriptor type.")
    radial: ChebyshevTerm = Field(description=f"Radial basis: {{cutoff, order}}; order <= {MAX_CHEBYSHEV_ORDER['radial']}.")
    angular: ChebyshevTerm = Field(
        description=f"Angular basis: {{cutoff, order}}; order <= {MAX_CHEBYSHEV_ORDER['angular']}."
    )
    env: Annotated[list[Str], Field(min_length=1)] | None = Field(
        None,
        description="Environment species, in order (the order sets the species weights). "
        "Default: all species of reference_energies, in that order.",
    )
    weights: Annotated[list[Float], Field(min_length=1)] | None = Field(
        None, description="Explicit species weights, one per env species. Default: ænet's (-n/2 ... n/2 without 0)."
    )

    @field_validator("env")
    @classmethod
    def _env_symbols(cls, value: list[str] | None) -> list[str] | None:
        return _check_env(value)

    @model_validator(mode="after")
    def _weights_match_env(self) -> "ChebyshevDescriptor":
        for part, limit in MAX_CHEBYSHEV_ORDER.items():
            order = getattr(self, part).order
            if order > limit:
                raise SectionError(
                    f"expected an integer <= {limit}, got {order} (higher orders take minutes to set up "
                    "and lose the precision of the expansion)", part, "order",
                )
        if self.angular.cutoff > self.radial.cutoff:
            raise SectionError(
                f"the angular cutoff ({self.angular.cutoff:g} Å) must not exceed the radial cutoff "
                f"({self.radial.cutoff:g} Å): the angular environment is part of the radial one",
                "angular", "cutoff",
            )
        if self.weights is not None and self.env is not None and len(self.weights) != len(self.env):
            raise SectionError(
                f"expected {len(self.env)} weights (one per env species), got {len(self.weights)}", "weights"
            )
        return self


# parameters each Behler function kind needs (besides G and type2) and may use
_BEHLER_PARAMS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    1: (("Rc",), ()),
    2: (("eta", "Rc"), ("Rs",)),
    3: (("kappa", "Rc"), ()),
    4: (("type3", "eta", "lambda", "zeta", "Rc"), ()),
    5: (("type3", "eta", "lambda", "zeta", "Rc"), ()),
}
_BEHLER_ALL = ("type3", "eta", "Rs", "kappa", "lambda", "zeta")


class BehlerFunction(Section):
    """One Behler (2011) symmetry function (ænet ``FUNCTIONS type=Behler2011`` line)."""

    G: Annotated[Int, Field(ge=1, le=5)] = Field(description="Function kind 1-5 (G1-G3 radial, G4/G5 angular).")
    type2: Str = Field(description="Species of neighbour j.")
    type3: Str | None = Field(None, description="Species of neighbour k (G4, G5 only).")
    eta: Annotated[Float, Field(ge=0)] | None = Field(None, description="Gaussian width eta (1/Å²) (G2, G4, G5).")
    Rs: Float | None = Field(None, description="Gaussian centre (Å) (G2; default 0).")
    kappa: Float | None = Field(None, description="Cosine frequency (1/Å) (G3).")
    lambda_: Float | None = Field(None, alias="lambda", description="Angular sign, -1 or 1 (G4, G5).")
    zeta: Annotated[Float, Field(ge=1)] | None = Field(
        None, description="Angular exponent ≥ 1 (G4, G5); whole numbers are fastest."
    )
    Rc: PositiveFloat = Field(description="Cutoff radius (Å).")

    @model_validator(mode="after")
    def _params_of_kind(self) -> "BehlerFunction":
        needed, optional = _BEHLER_PARAMS[self.G]
        for key in needed:
            if getattr(self, "lambda_" if key == "lambda" else key) is None:
                raise SectionError(f"G={self.G} needs '{key}' (parameters: {', '.join(needed)})")
        for key in _BEHLER_ALL:
            if key not in needed and key not in optional and getattr(self, "lambda_" if key == "lambda" else key) is not None:
                raise SectionError(f"'{key}' is not a parameter of G={self.G} (it takes {', '.join(needed + optional)})", key)
        if self.lambda_ is not None and self.lambda_ not in (-1, 1):
            raise SectionError(f"expected -1 or 1, got {self.lambda_:g}", "lambda")
        if self.G == 2 and self.Rs is None:
            self.Rs = 0.0
        return self


class Behler2011Descriptor(Section):
    """Behler-Parrinello symmetry functions as in ænet (``FUNCTIONS type=Behler2011``)."""

    type: Annotated[Literal["behler2011"], BeforeValidator(_lower)] = Field(description="Descriptor type.")
    env: Annotated[list[Str], Field(min_length=1)] | None = Field(
        None, description="Environment species, in order. Default: all species of reference_energies."
    )
    functions: Annotated[list[BehlerFunction], Field(min_length=1)] = Field(
        description="The symmetry functions: a list of {G, type2, type3, eta, Rs, kappa, lambda, zeta, Rc}."
    )

    @field_validator("env")
    @classmethod
    def _env_symbols(cls, value: list[str] | None) -> list[str] | None:
        return _check_env(value)


class AenetSetupDescriptor(Section):
    """An ænet structural-fingerprint setup file (.stp), Chebyshev or Behler2011."""

    type: Annotated[Literal["aenet"], BeforeValidator(_lower)] = Field(description="Descriptor type.")
    file: InputPath = Field(
        description="ænet setup file (.stp) of this species, relative to the input file; its lengths "
        "are in the unit of 'units.length'."
    )


def _descriptor_tag(value: Any) -> str | None:
    """The descriptor ``type``, case-insensitive (ænet writes Chebyshev, Behler2011)."""
    tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return tag.lower() if isinstance(tag, str) else None


Descriptor = Annotated[
    Union[
        Annotated[ChebyshevDescriptor, Tag("chebyshev")],
        Annotated[Behler2011Descriptor, Tag("behler2011")],
        Annotated[AenetSetupDescriptor, Tag("aenet")],
    ],
    Discriminator(_descriptor_tag),
]


class TaylorAugmentation(Section):
    """Taylor-expansion augmentation (Cooper et al., npj Comput. Mater. 6, 54 (2020)).

    Every structure with reference forces gets ``copies`` displaced copies R + δ labelled
    with the first-order energy E(R) − Σ_i F_i·δ_i and no forces (:mod:`anncli.workflows.taylor`).
    """

    copies: Annotated[Int, Field(ge=1)] = Field(
        4, description="Displaced copies added for every structure with reference forces (>= 1)."
    )
    displacement: PositiveFloat = Field(
        0.01, description="Largest atom displacement of a copy (Å): the displacements are "
        "scaled so that the atom that moves most moves exactly this far. Keep it small: the "
        "copies' energies are exact only to first order, their error grows as displacement² "
        "(in mode all also with the number of atoms; water clusters: 0.02 Å all-atom is worse "
        "than no copies, README)."
    )
    mode: Literal["all", "single"] = Field(
        "single", description="single = one random atom per copy (the best on the water "
        "clusters); all = every atom displaced in a random direction (Gaussian draws). In "
        "both the other atoms shift slightly so that the centre of mass does not move."
    )
    seed: Annotated[Int, Field(ge=0)] = Field(
        0, description="Seed of the displacements: copy k of the structure in row p of "
        "the training set is drawn from numpy's default_rng([seed, p, k])."
    )


BASELINE_CALCULATOR_DESCRIPTION = (
    "ASE calculator of the baseline: ASE's short name (emt, lj, morse, dftd3, dftb, ... as in "
    "'anncli label'), tblite, xtb, dftd4, simple-dftd3 (packages from the package index), or an "
    "import path 'package.module:Class' or 'package.module.Class' of any ASE calculator class."
)
BASELINE_KWARGS_DESCRIPTION = ("Keyword arguments of the calculator, e.g. {method: GFN2-xTB}; plain numbers, "
                               "text, lists and mappings (they are recorded in the training set and the model).")


class BaselineCalculator(Section):
    """A baseline calculator named for predict or validate (Δ-learning models)."""

    calculator: Str = Field(description=BASELINE_CALCULATOR_DESCRIPTION)
    kwargs: dict[Str, Any] = Field(default_factory=dict, description=BASELINE_KWARGS_DESCRIPTION)


class Baseline(Section):
    """Δ-learning baseline: a cheaper method whose energies and forces are subtracted from the
    reference labels, so that the networks learn the difference (:mod:`anncli.potential.baseline`).

    Either an ASE ``calculator`` (with ``kwargs``) or the ``energy_key`` (and ``forces_key``)
    under which the structure files store the baseline's values.
    """

    calculator: Str | None = Field(None, description=BASELINE_CALCULATOR_DESCRIPTION)
    kwargs: dict[Str, Any] | None = Field(None, description=BASELINE_KWARGS_DESCRIPTION)
    energy_key: Str | None = Field(
        None, description="Instead of a calculator: key of the baseline energy stored in the structure files "
        "(extxyz info), e.g. xtb_energy. Such a model needs a calculator named at predict time (the stored "
        "values do not exist for new structures).")
    forces_key: Str | None = Field(
        None, description="With energy_key: per-atom column of the stored baseline forces, e.g. xtb_forces "
        "(required when the structures have reference forces).")

    @model_validator(mode="after")
    def _one_kind(self) -> "Baseline":
        if self.calculator is None and self.energy_key is None:
            raise SectionError("give 'calculator' (an ASE calculator) or 'energy_key' (baseline energies stored "
                               "in the structure files)")
        if self.calculator is not None and self.energy_key is not None:
            raise SectionError("give either 'calculator' or 'energy_key', not both", "energy_key")
        if self.calculator is None and self.kwargs is not None:
            raise SectionError("'kwargs' belongs to a 'calculator'", "kwargs")
        if self.calculator is not None and self.forces_key is not None:
            raise SectionError("'forces_key' belongs to 'energy_key' (a calculator computes the forces)",
                               "forces_key")
        if self.energy_key is None and self.forces_key is not None:
            raise SectionError("'forces_key' needs 'energy_key'", "forces_key")
        return self


class GenerateConfig(Section):
    """Input of ``anncli generate``: reference structures -> one HDF5 training-set file."""

    structures: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Structure files: files, directories, glob patterns, or list files "
        "('@files.txt' or *.list, one path per line). Relative to the input file."
    )
    format: Str | None = Field(None, description="Structure file format; null = guess from each file name.")
    units: Units = Field(default_factory=Units, description="Units of the structure files: {energy, length}.")
    energy: EnergyKind | None = Field(None, description=ENERGY_DESCRIPTION)
    energy_key: Str | None = Field(None, description=ENERGY_KEY_DESCRIPTION)
    forces_key: Str | None = Field(None, description=FORCES_KEY_DESCRIPTION)
    output: InputPath = Field("trainset.h5", description="Training-set file to write (HDF5), relative to the input file.")
    overwrite: Bool = Field(False, description="Replace an existing output file (otherwise an error).")
    reference_energies: Annotated[
        dict[Str, Annotated[Union[Float, Literal["fit"]], BeforeValidator(_number_or_fit)]],
        BeforeValidator(_whole_fit), Field(min_length=1),
    ] = Field(
        description="Energy of each free atom by chemical symbol (energy unit of 'units'); "
        "cohesive energy = E - sum of these. Defines the species and their order. 'fit' instead "
        "of a number (e.g. {Ti: fit, O: fit}) fits that species' energy by least squares to the "
        "total energies of the structures (as nequip and MACE do); the fitted values (eV) are "
        "printed and stored in the training set (and so in the model) like given ones."
    )
    descriptors: Annotated[dict[Str, Descriptor], Field(min_length=1)] = Field(
        description="Descriptor setup by species; 'default' applies to every species without its own entry."
    )
    max_energy_per_atom: Float | None = Field(
        None, description="Drop structures whose cohesive energy per atom exceeds this (eV/atom); null = keep all."
    )
    max_force: PositiveFloat | None = Field(
        None, description="Drop structures with a force norm above this (eV/Å); null = keep all."
    )
    missing_energy: Literal["error", "skip"] = Field(
        "error", description="Structures without an energy: 'error' stops, 'skip' leaves them out."
    )
    min_distance: Annotated[Float, Field(ge=0)] = Field(
        0.1, description="Atom pairs closer than this (Å) are an input error; two atoms at the same position always are."
    )
    derivatives: Bool = Field(False, description="Also store dense feature derivatives for other programs (large files); "
                              "force training recomputes them and does not need them.")
    compression: Literal["none", "lzf", "gzip"] = Field(
        "none", description="HDF5 compression of the training-set file: none (fastest; features "
        "compress by only ~20 %), lzf (fast) or gzip (smallest, slowest)."
    )
    n_threads: Annotated[Int, Field(ge=1)] | None = Field(None, description="Threads for featurisation; null = all cores.")
    taylor: TaylorAugmentation | None = Field(
        None, description="Taylor-expansion augmentation: {copies, displacement, mode, seed}; "
        "adds displaced copies with first-order energies E - F·δ (no forces) of every structure "
        "with forces, for energy-only training (train splits by parent structure). null = off."
    )
    baseline: Baseline | None = Field(
        None, description="Δ-learning: {calculator, kwargs} (an ASE calculator) or {energy_key, forces_key} "
        "(values stored in the structure files); its energies and forces are subtracted from the reference, "
        "the networks learn the difference, and predict, validate and the ASE calculator add it back. "
        "reference_energies then apply to the difference ('fit' recommended). null = off."
    )

    @field_validator("reference_energies")
    @classmethod
    def _symbols(cls, value: dict[str, float]) -> dict[str, float]:
        for sym in value:
            _check_symbol(sym, sym)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> "GenerateConfig":
        fitted = [s for s, v in self.reference_energies.items() if v == "fit"]
        if fitted and self.max_energy_per_atom is not None:
            raise SectionError(
                f"max_energy_per_atom needs every free-atom energy before the structures are read, but "
                f"reference_energies fits {', '.join(fitted)}; run once with 'fit', put the printed values "
                "into reference_energies, then filter", "max_energy_per_atom",
            )
        for key, desc in self.descriptors.items():
            if isinstance(desc, AenetSetupDescriptor) and key == "default":
                raise SectionError("an ænet setup file describes one species; give it under that species' symbol",
                                   "descriptors", key)
        _check_descriptors(self)
        return self


def _check_descriptors(config: GenerateConfig) -> None:
    """Species, env lists, weights and Behler types against reference_energies (SectionError).

    Entries of type ``aenet`` are checked once their file is read (:func:`read_setup_files`).
    """
    species = list(config.reference_energies)
    known = ", ".join(species)
    for key in config.descriptors:
        if key != "default" and key not in config.reference_energies:
            raise SectionError(
                f"species {key} is not in reference_energies ({known}); "
                "add its free-atom energy there or remove this entry", "descriptors", key
            )
    missing = [s for s in species if s not in config.descriptors]
    if missing and "default" not in config.descriptors:
        raise SectionError(
            f"no descriptor for species {', '.join(missing)}; add a 'default' entry or one per species",
            "descriptors",
        )
    for key, desc in config.descriptors.items():
        if isinstance(desc, AenetSetupDescriptor):
            continue
        env = desc.env if desc.env is not None else species
        for i, sym in enumerate(desc.env or []):
            if sym not in config.reference_energies:
                raise SectionError(f"env species {sym} is not in reference_energies ({known})", "descriptors", key, "env", i)
        if isinstance(desc, ChebyshevDescriptor) and desc.weights is not None and len(desc.weights) != len(env):
            raise SectionError(
                f"expected {len(env)} weights (one per env species: {', '.join(env)}), got {len(desc.weights)}",
                "descriptors", key, "weights",
            )
        if isinstance(desc, Behler2011Descriptor):
            for i, fn in enumerate(desc.functions):
                for attr in ("type2", "type3"):
                    sym = getattr(fn, attr)
                    if sym is not None and sym not in env:
                        raise SectionError(
                            f"{attr} {sym} is not an environment species ({', '.join(env)})",
                            "descriptors", key, "functions", i, attr,
                        )


def read_setup_files(
    config: GenerateConfig, *, source: str | Path | None = None, locations: dict | None = None
) -> GenerateConfig:
    """The config with every ``type: aenet`` descriptor replaced by the setup its .stp file holds.

    The schema only describes the input (an entry names a file); this reads the files, after
    validation, for the workflow and any other caller that needs the descriptors themselves.

    Parameters
    ----------
    config : GenerateConfig
        A validated config (paths resolved).
    source : str or Path, optional
        The input file, named in messages (with the line of the key when it is a YAML file).
    locations : dict, optional
        Line of every key path (:func:`anncli.config.loader.load_yaml`); read from ``source``
        when an error needs it and it is not given.

    Returns
    -------
    GenerateConfig
        ``config`` itself if it has no ``aenet`` entry, else a copy with Chebyshev or
        Behler2011 sections.

    Raises
    ------
    ConfigError
        A missing, unreadable or bad .stp file, a setup of another species, or a setup
        whose species are not in reference_energies; naming the input file, the key
        (``descriptors.<species>.file``) and the .stp file with its line.
    """
    from anncli.config.loader import format_key_path

    if not any(isinstance(d, AenetSetupDescriptor) for d in config.descriptors.values()):
        return config
    descriptors = dict(config.descriptors)
    files = {key: d.file for key, d in config.descriptors.items() if isinstance(d, AenetSetupDescriptor)}
    try:
        for key in files:
            descriptors[key] = _read_aenet_setup(config.descriptors[key], key, config.units.length)
        resolved = config.model_copy(update={"descriptors": descriptors})
        try:
            _check_descriptors(resolved)
        except SectionError as exc:  # a problem inside a setup read from a file: name the file
            key = exc.path[1] if len(exc.path) > 1 else None
            if key not in files:
                raise
            raise SectionError(f"{files[key]}: {format_key_path(exc.path[2:])}: {exc.message}",
                               "descriptors", key, "file") from None
    except SectionError as exc:
        raise _setup_file_error(exc, source, locations) from None
    return resolved


def _setup_file_error(exc: SectionError, source, locations: dict | None):
    from anncli.config.loader import format_key_path, load_yaml
    from anncli.exceptions import ConfigError

    name = str(source) if source is not None else "<input>"
    if locations is None and source is not None and Path(source).suffix.lower() in (".yaml", ".yml"):
        try:
            locations = load_yaml(source)[1]
        except (ConfigError, OSError):
            locations = None
    line = None
    for n in range(len(exc.path), 0, -1):
        line = (locations or {}).get(tuple(exc.path[:n]))
        if line:
            break
    where = f"{name}, line {line}" if line else name
    return ConfigError(f"{where}: {format_key_path(exc.path)}: {exc.message}")


def _read_aenet_setup(desc: AenetSetupDescriptor, key: str, length_unit: str):
    """The Chebyshev or Behler2011 section equivalent to an ænet .stp file."""
    from anncli.exceptions import ConfigError
    from anncli.io.aenet_inputs import descriptor_entry, read_stp

    try:
        setup = read_stp(desc.file, length_unit=length_unit)
    except ConfigError as exc:
        raise SectionError(str(exc), "descriptors", key, "file") from None
    central = setup.central if hasattr(setup, "central") else setup["central"]
    if central != key:
        raise SectionError(f"{desc.file} is the setup of {central} (ATOM {central}), not of {key}",
                           "descriptors", key, "file")
    entry = descriptor_entry(setup)
    cls = Behler2011Descriptor if entry["type"] == "behler2011" else ChebyshevDescriptor
    try:
        return cls.model_validate(entry)
    except ValidationError as exc:  # a value the schema refuses (e.g. angular cutoff > radial)
        from anncli.config.loader import format_validation_error

        message = format_validation_error(exc, entry, str(desc.file)).replace("\n", "; ")
        raise SectionError(message, "descriptors", key, "file") from None


# ænet's generate.in: TYPES / SETUPS / FILES stand alone on their line (counts and entries follow)
_AENET_SECTION = re.compile(r"^\s*(TYPES|SETUPS|FILES)\s*$", re.IGNORECASE | re.MULTILINE)


def looks_like_aenet(path: Path) -> bool:
    """True if ``path`` is not ``*.yaml``/``*.yml`` and reads like ænet keyword input (generate.in)."""
    if path.suffix.lower() in (".yaml", ".yml") or not path.is_file():
        return False
    try:
        head = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return False
    return bool(_AENET_SECTION.search(head))


def load_generate_config(path: str | Path, *, overwrite: bool | None = None) -> GenerateConfig:
    """Read a generate input file: anncli YAML, or ænet's generate.in with its .stp files.

    Parameters
    ----------
    path : path
        The input file.
    overwrite : bool, optional
        Overrides the file's ``overwrite`` when given (the ``--overwrite`` flag).
    """
    from anncli.config.loader import load_config, validate_config

    path = Path(path)
    overrides = {"overwrite": overwrite} if overwrite is not None else None
    if looks_like_aenet(path):
        from anncli.io.aenet_inputs import read_generate_in

        config = validate_config(read_generate_in(path), GenerateConfig, source=path, base_dir=path.resolve().parent)
        return config.model_copy(update=overrides) if overrides else config
    return load_config(path, GenerateConfig, overrides=overrides)
