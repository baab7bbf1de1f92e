"""The schema of the ``anncli sample`` input file (see ``example_inputs/sample.yaml``).

:class:`SampleConfig` is the single source of truth for the keys, their types, defaults and
documentation.  Every generator section is optional (null = that kind is not made); the
``descriptors`` section has the form of generate's and sets the feature space in which the
candidates are thinned by farthest-point sampling.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section, SectionError, Str
from anncli.config.generate import Behler2011Descriptor, ChebyshevDescriptor, _check_symbol, _descriptor_tag
from anncli.config.label import CalculatorSpec

__all__ = ["SampleConfig", "RattleSection", "StrainSection", "VacancySection", "InterstitialSection",
           "SubstitutionSection", "SurfaceSection", "MDSection", "DEFAULT_DESCRIPTORS"]

NonNegative = Annotated[Float, Field(ge=0)]
Positive = Annotated[Float, Field(gt=0)]
Copies = Annotated[Int, Field(ge=1)]

#: Feature space of the thinning when the input has no ``descriptors``.
DEFAULT_DESCRIPTORS = {"default": {"type": "chebyshev", "radial": {"cutoff": 6.0, "order": 8},
                                   "angular": {"cutoff": 4.0, "order": 4}}}

#: generate's descriptor sections without ``type: aenet`` (an .stp file names species' energies
#: and units that sample has no use for).
SampleDescriptor = Annotated[
    Union[Annotated[ChebyshevDescriptor, Tag("chebyshev")], Annotated[Behler2011Descriptor, Tag("behler2011")]],
    Discriminator(_descriptor_tag),
]

_RATTLE_AFTER = "Gaussian displacement σ (Å) added to every atom afterwards (0 = none)."


class RattleSection(Section):
    """Copies with every atom displaced by a Gaussian of standard deviation σ."""

    sigma: Annotated[list[Positive], Field(min_length=1)] = Field(
        [0.05], description="Standard deviations σ (Å, per Cartesian component); copies are made for each.")
    copies: Copies = Field(5, description="Copies per σ and ideal structure.")


class StrainSection(Section):
    """Copies with strained cells: isotropic (evenly spaced in ±isotropic %) and random anisotropic."""

    isotropic: NonNegative | None = Field(
        3.0, description="Largest isotropic strain (%): copies evenly spaced in [-x, +x] (0 left out); "
        "null = none.")
    anisotropic: NonNegative | None = Field(
        3.0, description="Largest component (%) of a random symmetric strain tensor (six components uniform in "
        "[-x, +x]); null = none.")
    copies: Copies = Field(4, description="Copies per mode and ideal structure (3-D periodic structures only).")
    rattle: NonNegative = Field(0.0, description=_RATTLE_AFTER)


class VacancySection(Section):
    """Copies with atoms removed at random."""

    count: Copies = Field(1, description="Atoms removed per copy.")
    species: Annotated[list[Str], Field(min_length=1)] | None = Field(
        None, description="Only atoms of these species are removed; null = any.")
    copies: Copies = Field(3, description="Copies per ideal structure.")
    rattle: NonNegative = Field(0.0, description=_RATTLE_AFTER)

    @field_validator("species")
    @classmethod
    def _symbols(cls, value):
        for i, sym in enumerate(value or []):
            _check_symbol(sym, i)
        return value


class InterstitialSection(Section):
    """Copies with extra atoms put into the largest open space found."""

    species: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Species of the added atoms (one drawn at random per atom).")
    count: Copies = Field(1, description="Atoms added per copy.")
    tries: Annotated[Int, Field(ge=1)] = Field(
        200, description="Random points tried per added atom; the one farthest from every atom is taken.")
    copies: Copies = Field(3, description="Copies per ideal structure.")
    rattle: NonNegative = Field(0.0, description=_RATTLE_AFTER)

    @field_validator("species")
    @classmethod
    def _symbols(cls, value):
        for i, sym in enumerate(value):
            _check_symbol(sym, i)
        return value


class SubstitutionSection(Section):
    """Copies with atoms of one species replaced by another (antisites, dopants)."""

    replace: Annotated[dict[Str, Annotated[list[Str], Field(min_length=1)]], Field(min_length=1)] = Field(
        description="Which species may become which, e.g. {Cu: [Au], Au: [Cu]}.")
    count: Copies = Field(1, description="Atoms replaced per copy.")
    copies: Copies = Field(3, description="Copies per ideal structure.")
    rattle: NonNegative = Field(0.0, description=_RATTLE_AFTER)

    @field_validator("replace")
    @classmethod
    def _symbols(cls, value):
        for key, targets in value.items():
            _check_symbol(key, key)
            for i, sym in enumerate(targets):
                _check_symbol(sym, key, i)
        return value


class SurfaceSection(Section):
    """Surface slabs of the 3-D periodic ideal structures (ase.build.surface)."""

    miller: Annotated[list[Annotated[list[Int], Field(min_length=3, max_length=3)]], Field(min_length=1)] = Field(
        [[1, 0, 0], [1, 1, 0], [1, 1, 1]], description="Surface normals (h k l) in terms of the ideal cell.")
    layers: Copies = Field(4, description="Repetitions of the surface cell along the normal.")
    vacuum: Positive = Field(6.0, description="Vacuum on each side of the slab (Å).")
    repeat: Annotated[list[Copies], Field(min_length=2, max_length=2)] = Field(
        [1, 1], description="Repetitions in the surface plane.")
    periodic: Bool = Field(True, description="Periodic along the normal (vacuum inside the cell, for plane-wave "
                           "codes); false = a slab open along the normal.")
    copies: Copies = Field(1, description="Copies per surface and ideal structure (differ only by rattle).")
    rattle: NonNegative = Field(0.0, description=_RATTLE_AFTER)

    @field_validator("miller")
    @classmethod
    def _nonzero(cls, value):
        for i, hkl in enumerate(value):
            if not any(hkl):
                raise SectionError("expected Miller indices with a non-zero entry, got [0, 0, 0]", i)
        return value


class MDSection(Section):
    """Snapshots of short Langevin runs with a cheap ASE calculator (e.g. EMT)."""

    calculator: CalculatorSpec = Field(
        default_factory=lambda: CalculatorSpec(name="emt"), description="The calculator: {name, kwargs} as in "
        "'anncli label' (default EMT).")
    temperatures: Annotated[list[Positive], Field(min_length=1)] = Field(
        [300.0], description="Temperatures (K); one run per temperature and ideal structure.")
    steps: Copies = Field(200, description="MD steps per run.")
    interval: Copies = Field(50, description="A snapshot every this many steps.")
    timestep: Positive = Field(2.0, description="Time step (fs).")
    friction: Positive = Field(0.02, description="Langevin friction (1/fs).")

    @model_validator(mode="after")
    def _frames(self) -> "MDSection":
        if self.interval > self.steps:
            raise SectionError(f"expected at most steps ({self.steps}), got {self.interval}: no snapshot "
                               "would be taken", "interval")
        return self


class SampleConfig(Section):
    """Input of ``anncli sample``: candidate structures for reference calculations, from ideal ones."""

    structures: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Ideal structures (any format ASE reads, or ænet XSF): files, directories, glob patterns or "
        "list files. Relative to the input file.")
    format: Str | None = Field(None, description="Their file format; null = guess from each file name.")
    frames: Str = Field(":", description="Frames of multi-frame files: ':' all, '-1' the last, ...")
    output_dir: InputPath = Field(
        "sample", description="Directory of candidates.extxyz (the selection), summary.csv, summary.json and "
        "selection.png. Relative to the input file.")
    overwrite: Bool = Field(False, description="Replace existing output files (otherwise an error).")
    seed: Annotated[Int, Field(ge=0)] = Field(0, description="Seed of every random draw: the same seed and input "
                                              "give the same files, byte for byte.")
    n: Annotated[Int, Field(ge=1)] | None = Field(
        None, description="Structures kept by farthest-point sampling in feature space; null = keep all.")
    keep_ideal: Bool = Field(True, description="The ideal structures (supercells) are always kept and seed the "
                             "farthest-point sampling.")
    min_atoms: Annotated[Int, Field(ge=1)] | None = Field(
        None, description="Repeat periodic ideal cells until they have at least this many atoms (before the "
        "generators, except surfaces); null = as given.")
    min_distance: Positive = Field(
        0.5, description="Candidates with two atoms closer than this (Å) are dropped (counted in the summary).")
    rattle: RattleSection | None = Field(None, description="Rattled copies: {sigma, copies}; null = none.")
    strain: StrainSection | None = Field(
        None, description="Strained cells: {isotropic, anisotropic, copies, rattle}; null = none.")
    vacancies: VacancySection | None = Field(
        None, description="Vacancies: {count, species, copies, rattle}; null = none.")
    interstitials: InterstitialSection | None = Field(
        None, description="Interstitials: {species, count, tries, copies, rattle}; null = none.")
    substitutions: SubstitutionSection | None = Field(
        None, description="Substitutions: {replace, count, copies, rattle}; null = none.")
    surfaces: SurfaceSection | None = Field(
        None, description="Surface slabs: {miller, layers, vacuum, repeat, periodic, copies, rattle}; null = none.")
    md: MDSection | None = Field(
        None, description="MD snapshots: {calculator, temperatures, steps, interval, timestep, friction}; "
        "null = none.")
    descriptors: Annotated[dict[Str, SampleDescriptor], Field(min_length=1)] | None = Field(
        None, description="Feature space of the farthest-point sampling, as in generate (by species or "
        "'default'; env defaults to every species of the candidates); null = Chebyshev, radial 6 Å order 8, "
        "angular 4 Å order 4.")
    plot: Bool = Field(True, description="Draw selection.png: the candidates in the plane of the first two "
                       "principal components of the feature space, the selection coloured by kind.")
    write_pool: Bool = Field(False, description="Also write pool.extxyz: every candidate before thinning.")
