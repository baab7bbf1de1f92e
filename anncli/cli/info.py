"""``anncli info FILE``: what is in a structure file, training set or model file."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.parallel.mpi import on_root

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
CLOSE_PAIR_DISTANCE = 0.1  # Å; the default min_distance of generate and predict


def is_hdf5(path: Path) -> bool:
    """True if ``path`` starts with the HDF5 signature."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except OSError:
        return False


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if lo == hi else f"{format(lo, fmt)} .. {format(hi, fmt)}"


def structure_summary(structures, close_pair_distance: float | None = None) -> dict:
    """Counts and ranges of :class:`~anncli.structure.Structure` objects (JSON-ready).

    One pass over any iterable (frames streamed from a file are not held), so that a
    multi-gigabyte trajectory is summarised in bounded memory.  With ``close_pair_distance``
    (Å), also every pair closer than that (``close_pairs``).
    """
    from collections import Counter

    from anncli.io import close_pairs

    n_frames = total = periodic = with_forces = 0
    n_min, n_max = None, None
    species: Counter = Counter()
    kinds: list = []
    used: list = []
    e_min = e_max = pa_min = pa_max = None
    n_energy = 0
    pairs = []
    for s in structures:
        n = s.n_atoms
        n_frames += 1
        total += n
        n_min = n if n_min is None else min(n_min, n)
        n_max = n if n_max is None else max(n_max, n)
        species.update(s.symbols)
        kinds.extend(s.energy_kinds)
        periodic += bool(s.is_periodic)
        with_forces += s.forces is not None
        if s.energy is not None and n:
            used.append(s.energy_kind)
            n_energy += 1
            e, pa = s.energy, s.energy / n
            e_min, e_max = (e, e) if e_min is None else (min(e_min, e), max(e_max, e))
            pa_min, pa_max = (pa, pa) if pa_min is None else (min(pa_min, pa), max(pa_max, pa))
        if close_pair_distance:
            pairs += [{"structure": s.label, "atoms": [i + 1, j + 1], "distance": d}
                      for i, j, d in close_pairs(s, close_pair_distance)]
    out = {
        "frames": n_frames,
        "atoms": {"min": n_min, "max": n_max, "total": total},
        "species": dict(species.most_common()),
        "energy_eV": [e_min, e_max] if n_energy else None,
        "energy_eV_per_atom": [pa_min, pa_max] if n_energy else None,
        "frames_with_energy": n_energy,
        "energy_kinds": _kind_counts(kinds),
        "energy_used": _kind_counts(used),
        "frames_with_forces": with_forces,
        "frames_periodic": periodic,
    }
    if close_pair_distance:
        out["close_pairs"] = pairs
    return out


def _kind_counts(kinds) -> dict[str, int]:
    """Frames per energy kind, in the order free, zero_kelvin, total (see anncli.structure)."""
    from collections import Counter

    from anncli.structure import ENERGY_KINDS

    counts = Counter(k for k in kinds if k is not None)
    return {k: counts[k] for k in ENERGY_KINDS if counts[k]}


def format_summary(name: str, info: dict) -> str:
    """Human-readable text of :func:`structure_summary`."""
    n = info["frames"]
    a = info["atoms"]
    lines = [
        f"file:     {name}",
        f"frames:   {n}",
        f"atoms:    {a['total']} in total, {a['min']}" + (f" .. {a['max']}" if a["max"] != a["min"] else "") + " per frame",
        "species:  " + ", ".join(f"{sym} {count}" for sym, count in info["species"].items()),
    ]
    if info["energy_eV"]:
        e, epa = info["energy_eV"], info["energy_eV_per_atom"]
        lines.append(
            f"energy:   {_range(e, '.6g')} eV; {_range(epa, '.6g')} eV/atom"
            f" ({info['frames_with_energy']} of {n} frames)"
        )
        kinds = info.get("energy_kinds") or {}
        if kinds:
            used = info.get("energy_used") or {}
            lines.append(
                "energies: " + ", ".join(f"{k} in {c}" for k, c in kinds.items()) + f" of {n} frames; "
                "shown and used by default: " + ", ".join(k + (f" in {c}" if len(used) > 1 else "")
                                                          for k, c in used.items())
            )
    else:
        lines.append("energy:   none")
    lines.append(f"forces:   {'yes' if info['frames_with_forces'] else 'no'} ({info['frames_with_forces']} of {n} frames)")
    lines.append(f"cell:     periodic in {info['frames_periodic']} of {n} frames")
    close = info.get("close_pairs", [])
    for pair in close[:10]:
        lines.append(
            f"WARNING:  {pair['structure']}: atoms {pair['atoms'][0]} and {pair['atoms'][1]} are "
            f"{pair['distance']:.4f} Å apart (generate and predict reject pairs closer than 0.1 Å)"
        )
    if len(close) > 10:
        lines.append(f"WARNING:  ... {len(close) - 10} more close pairs")
    return "\n".join(lines)


@click.command(short_help="Summarise a structure file, training set or model file.")
@click.argument("sources", nargs=-1, required=True, metavar="FILE...")
@click.option("--format", "fmt", metavar="F", help="Structure file format (default: guess from the name).")
@click.option("--index", default=":", show_default=True, metavar="I", help="Frames to read: ':', '-1', '0:10:2', ...")
@click.option("--units-energy", metavar="U", help="Energy unit of the file (default eV).")
@click.option("--units-length", metavar="U", help="Length unit of the file (default Angstrom).")
@click.option("--dump", type=click.Choice(["json"]), help="Print a machine-readable dump instead of the summary.")
@common_options
@on_root  # under mpiexec: rank 0 prints (writes), the others wait
def info(
    sources: tuple[str, ...], fmt: str | None, index: str, units_energy: str | None, units_length: str | None,
    dump: str | None,
) -> int:
    """Print what FILE holds.

    For structure files (any readable format; also directories, glob patterns and
    @list files, summarised together): frames, atoms per frame, species, energy
    range (eV and eV/atom), forces and cells.  For an HDF5 file written by anncli
    (training set, model): its contents.

    \b
    Examples:
      anncli info data/run1.xyz
      anncli info data/
      anncli info OUTCAR --index -1
      anncli info trainset.h5 --dump json
    """
    import json

    from anncli.cli import _apply_logging
    from anncli.exceptions import DataError
    from anncli.io import expand_sources, iter_structures

    _apply_logging(click.get_current_context())
    file = Path(sources[0])
    if len(sources) == 1 and not file.exists() and not any(c in sources[0] for c in "*?[@"):
        raise DataError(f"{file}: no such file")
    if len(sources) == 1 and file.is_file() and is_hdf5(file):
        from anncli.io.h5info import describe, dump_json

        if dump == "json":
            dump_json(file, click.get_text_stream("stdout"))
        else:
            click.echo(describe(file))
        return 0

    units = None
    if units_energy or units_length:
        from anncli.units import Units

        units = Units(energy=units_energy or "eV", length=units_length or "Angstrom")
    files = [file] if len(sources) == 1 and file.is_file() else expand_sources(list(sources), ".")
    frames = (s for path in files for s in iter_structures(path, format=fmt, index=index, units=units))
    summary = structure_summary(frames, CLOSE_PAIR_DISTANCE)  # streamed: frames are not held
    if not summary["frames"]:
        raise DataError(f"{' '.join(sources)}: no structures selected (index {index!r})")
    name = str(file) if len(files) == 1 else f"{' '.join(sources)} ({len(files)} files)"
    if dump == "json":
        click.echo(json.dumps({"file": name, "files": [str(f) for f in files], **summary}, indent=2))
    else:
        click.echo(format_summary(name, summary))
    return 0
