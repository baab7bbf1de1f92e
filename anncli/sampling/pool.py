"""The candidate pool of ``anncli sample``: every generator applied to every ideal structure.

Random draws are independent per candidate: candidate ``c`` of kind ``k`` made from ideal
structure ``p`` draws from ``numpy.random.default_rng([seed, KIND_CODES[k], p, c])``, so that
the same seed gives the same candidates, and switching one generator on or off leaves the
candidates of the others unchanged.  Every candidate carries its provenance in ``atoms.info``:
``kind``, ``parent`` (index of the ideal structure), ``parent_name``, ``copy`` and ``detail``
(the parameters, e.g. ``sigma=0.05``).
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from anncli.exceptions import DataError
from anncli.sampling import generators as gen

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "KIND_CODES", "build_pool", "isotropic_strains", "candidate_rng"]

#: Kinds of candidates, in the order of the pool and the summary.
KINDS = ("ideal", "rattle", "strain-iso", "strain-aniso", "vacancy", "interstitial", "substitution", "surface", "md")
#: Code of every kind in the random seed (fixed: adding kinds must not change the others' draws).
KIND_CODES = {k: i for i, k in enumerate(KINDS)}


def candidate_rng(seed: int, kind: str, parent: int, copy: int) -> np.random.Generator:
    """The random generator of one candidate (see the module docstring)."""
    return np.random.default_rng([int(seed), KIND_CODES[kind], int(parent), int(copy)])


def isotropic_strains(max_strain: float, copies: int) -> list[float]:
    """``copies`` strains evenly spaced in [-max, +max] without 0, smallest magnitudes first.

    4 copies of 0.03: [-0.015, 0.015, -0.03, 0.03]; 3: [-0.015, 0.015, -0.03].
    """
    m = math.ceil(copies / 2)
    return [s * max_strain * k / m for k in range(1, m + 1) for s in (-1.0, 1.0)][:copies]


def _tag(atoms, kind: str, parent: int, parent_name: str, copy: int, detail: str = ""):
    # never an empty string: ASE writes it unquoted ("detail= energy=1.0") and its extxyz reader
    # then takes the next key as the value, losing the energy or pbc of labelled copies
    atoms.info = {"kind": kind, "parent": int(parent), "parent_name": parent_name, "copy": int(copy),
                  "detail": detail or "-"}
    return atoms


def _rattled(atoms, sigma: float, rng: np.random.Generator):
    return gen.rattle(atoms, sigma, rng) if sigma > 0 else atoms


def _periodic3(atoms) -> bool:
    return bool(all(atoms.pbc)) and abs(atoms.cell.volume) > 1e-12


def build_pool(ideals: list, config, names: list[str] | None = None) -> list:
    """Every candidate the config asks for, in a fixed order (kind by kind, ideal by ideal).

    Parameters
    ----------
    ideals : list of ase.Atoms
        The ideal structures.
    config : SampleConfig
        Generators (null sections are skipped), ``seed``, ``min_atoms``.
    names : list of str, optional
        Name of every ideal structure (``parent_name``).

    Returns
    -------
    list of ase.Atoms
        Tagged with their provenance (``info``); not yet filtered by ``min_distance``.

    Raises
    ------
    DataError
        The MD calculator failed on an ideal structure.
    """
    names = names or [f"ideal {p}" for p in range(len(ideals))]
    seed = config.seed
    bases = [gen.supercell(a, config.min_atoms) if config.min_atoms else gen._copy(a) for a in ideals]
    pool: list = []
    skipped: dict[str, int] = {}

    def each(kind: str, make: Callable[[int, object], list]) -> None:
        for p, base in enumerate(bases):
            for copy, atoms, detail in make(p, base):
                if atoms is None:
                    skipped[kind] = skipped.get(kind, 0) + 1
                    continue
                pool.append(_tag(atoms, kind, p, names[p], copy, detail))

    each("ideal", lambda p, b: [(0, gen._copy(b), "")])
    if config.rattle is not None:
        r = config.rattle
        each("rattle", lambda p, b: [
            (k * r.copies + c, gen.rattle(b, sigma, candidate_rng(seed, "rattle", p, k * r.copies + c)),
             f"sigma={sigma:g}")
            for k, sigma in enumerate(r.sigma) for c in range(r.copies)])
    if config.strain is not None:
        st = config.strain

        def iso(p, b):
            if st.isotropic is None or st.isotropic == 0 or not _periodic3(b):
                return []
            out = []
            for c, eps in enumerate(isotropic_strains(st.isotropic / 100.0, st.copies)):
                rng = candidate_rng(seed, "strain-iso", p, c)
                out.append((c, _rattled(gen.strain_isotropic(b, eps), st.rattle, rng), f"strain={100 * eps:.4g}%"))
            return out

        def aniso(p, b):
            if st.anisotropic is None or st.anisotropic == 0 or not _periodic3(b):
                return []
            out = []
            for c in range(st.copies):
                rng = candidate_rng(seed, "strain-aniso", p, c)
                atoms, eps = gen.strain_anisotropic(b, st.anisotropic / 100.0, rng)
                voigt = eps[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] * 100
                out.append((c, _rattled(atoms, st.rattle, rng), "strain%=" + ",".join(f"{v:.3g}" for v in voigt)))
            return out

        each("strain-iso", iso)
        each("strain-aniso", aniso)
    if config.vacancies is not None:
        v = config.vacancies

        def vac(p, b):
            out = []
            for c in range(v.copies):
                rng = candidate_rng(seed, "vacancy", p, c)
                atoms = gen.vacancies(b, v.count, rng, v.species)
                out.append((c, None if atoms is None else _rattled(atoms, v.rattle, rng), f"removed={v.count}"))
            return out

        each("vacancy", vac)
    if config.interstitials is not None:
        it = config.interstitials

        def inter(p, b):
            out = []
            for c in range(it.copies):
                rng = candidate_rng(seed, "interstitial", p, c)
                atoms = gen.interstitials(b, it.species, it.count, rng, it.tries)
                out.append((c, _rattled(atoms, it.rattle, rng), f"added={it.count}"))
            return out

        each("interstitial", inter)
    if config.substitutions is not None:
        sub = config.substitutions

        def subst(p, b):
            out = []
            for c in range(sub.copies):
                rng = candidate_rng(seed, "substitution", p, c)
                atoms = gen.substitutions(b, sub.count, sub.replace, rng)
                out.append((c, None if atoms is None else _rattled(atoms, sub.rattle, rng), f"replaced={sub.count}"))
            return out

        each("substitution", subst)
    if config.surfaces is not None:
        sf = config.surfaces

        def surf(p, b):
            ideal = ideals[p]
            if not _periodic3(ideal):
                return []
            out = []
            for m, hkl in enumerate(sf.miller):
                slab = gen.slab(ideal, hkl, sf.layers, sf.vacuum, sf.periodic, sf.repeat)
                for c in range(sf.copies):
                    rng = candidate_rng(seed, "surface", p, m * sf.copies + c)
                    out.append((m * sf.copies + c, _rattled(slab, sf.rattle, rng),
                                "miller=" + "".join(str(i) for i in hkl)))
            return out

        each("surface", surf)
    if config.md is not None:
        logger.info("sample: MD with %s: %d run(s) of %d steps", config.md.calculator.name,
                    len(bases) * len(config.md.temperatures), config.md.steps)
        each("md", lambda p, b: _md(p, b, config.md, seed, names[p]))
    for kind, n in skipped.items():
        logger.info("sample: %d %s candidate(s) could not be made (too few atoms of the species asked for)", n, kind)
    return pool


def _md(p: int, base, md, seed: int, name: str) -> list:
    from anncli.labelling.methods import calculator_class

    cls = calculator_class(md.calculator.name, "md.calculator.name")
    out = []
    per_run = md.steps // md.interval
    for t, temperature in enumerate(md.temperatures):
        rng = candidate_rng(seed, "md", p, t)
        try:
            frames = gen.md_snapshots(base, cls(**md.calculator.kwargs), temperature, md.steps, md.interval,
                                      md.timestep, md.friction, rng)
        except Exception as exc:  # noqa: BLE001 - the calculator's error, e.g. an element EMT lacks
            text = str(exc).strip().splitlines()
            raise DataError(f"md: the calculator {md.calculator.name} failed on {name} at {temperature:g} K: "
                            f"{type(exc).__name__}: {text[0] if text else ''}") from None
        for k, frame in enumerate(frames):
            out.append((t * per_run + k, frame, f"T={temperature:g}K step={(k + 1) * md.interval}"))
    return out
