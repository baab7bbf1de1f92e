"""Summaries and dumps of the HDF5 files anncli writes (``anncli info FILE.h5``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import h5py
import numpy as np

from anncli.exceptions import FileFormatError


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def file_format(path: str | Path) -> str | None:
    """The ``format`` attribute of an anncli HDF5 file, or None if it is not one."""
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except OSError:
        return None
    return None if fmt is None else _text(fmt)


def describe(path: str | Path) -> str:
    """A human-readable summary of a training-set or model file."""
    fmt = file_format(path)
    if fmt == "anncli-trainset":
        return _describe_trainset(Path(path))
    if fmt == "anncli-model":
        return _describe_model(Path(path))
    raise FileFormatError(f"{path}: an HDF5 file, but not one written by anncli")


def _describe_trainset(path: Path) -> str:
    from anncli.io.trainset import open_trainset, read_species

    with open_trainset(path) as f:
        species = read_species(f)
        s = f["structures"]
        n_atoms = s["n_atoms"][()]
        e_coh = s["cohesive_energy"][()]
        per_atom = e_coh / np.maximum(n_atoms, 1)
        lines = [
            f"{path}: anncli training set (format version {f.attrs['format_version']}, "
            f"written by anncli {_text(f.attrs['anncli_version'])} on {_text(f.attrs['created'])})",
            f"  structures: {len(n_atoms)}   atoms: {int(n_atoms.sum())} "
            f"({int(n_atoms.min()) if len(n_atoms) else 0}-{int(n_atoms.max()) if len(n_atoms) else 0} per structure)",
            f"  periodic: {int(s['pbc'][()].any(axis=1).sum())}   with forces: {int(s['has_forces'][()].sum())}",
        ]
        if len(per_atom):
            lines.append(
                f"  cohesive energy per atom (eV): min {per_atom.min():.6f}  "
                f"mean {per_atom.mean():.6f}  max {per_atom.max():.6f}"
            )
        ref = f["reference_energies"][()]
        lines.append("  species, reference energy (eV), atoms, descriptor:")
        for sym, e_ref in zip(species, ref):
            g = f["features"][sym]
            setup = json.loads(_text(g.attrs["descriptor"]))
            lines.append(
                f"    {sym:<3} {e_ref:18.9f} {g['values'].shape[0]:>9}   "
                f"{setup.get('kind', '?')}, {g['values'].shape[1]} features, "
                f"env {' '.join(setup.get('env', []))}"
            )
        if "derivatives" in f:
            lines.append("  feature derivatives stored (force training)")
        from anncli.io.trainset import read_baseline

        baseline = read_baseline(f)
        if baseline:
            from anncli.potential.baseline import describe as describe_baseline

            lines.insert(3, f"  Δ-learning: energies and forces are reference − baseline "
                            f"{describe_baseline(baseline)} (baseline_energy, baseline_forces hold it)")
    return "\n".join(lines)


def _describe_model(path: Path) -> str:
    from anncli.potential.model_file import load_model

    model = load_model(path)
    meta = model.metadata
    with h5py.File(path, "r") as f:
        created, version = _text(f.attrs.get("created", "?")), _text(f.attrs.get("anncli_version", "?"))
    lines = [f"{path}: anncli model (written by anncli {version} on {created})"]
    if model.n_members > 1:
        c = meta.get("committee") or {}
        val = c.get("member_val_rmse_meV")
        lines.append(f"  committee of {model.n_members} networks per species"
                     + (" (bootstrap resamples)" if c.get("bootstrap") else "")
                     + (f"; member validation RMSE {min(val):.3f}-{max(val):.3f} meV/atom" if val else "")
                     + "; predictions are their mean, their spread marks uncertainty (member 0 below)")
    if "best_epoch" in meta:
        lines.append(
            f"  training: {meta.get('optimizer', '?')}, best epoch {meta['best_epoch']} of {meta.get('epochs', '?')}, "
            f"validation RMSE {meta.get('best_val_rmse_meV', float('nan')):.3f} meV/atom, "
            f"{meta.get('n_train', '?')} training / {meta.get('n_validation', '?')} validation structures, "
            f"seed {meta.get('seed', '?')}"
        )
    if meta.get("force_weight"):
        last = meta.get("final_errors_meV") or {}
        forces = ""
        if "val_force_rmse" in last:
            forces = (f" (force RMSE at the last epoch {last['train_force_rmse']:.1f} training / "
                      f"{last['val_force_rmse']:.1f} validation meV/Å)")
        lines.append(f"  trained on energies and forces: force_weight {meta['force_weight']:g} Å²{forces}")
    if "trainset" in meta:
        lines.append(f"  training set: {meta['trainset']}")
    lines.append(f"  energy: E_i = network_i / {model.energy_scale:.6g} + {model.energy_shift:.6g} eV + E_atom")
    if model.baseline:
        from anncli.potential.baseline import describe as describe_baseline

        lines.append(f"  Δ-learning: + the baseline {describe_baseline(model.baseline)}, added to energies, "
                     "forces and stress (not exportable to ænet)")
    lines.append("  species, reference energy (eV), network, descriptor:")
    for sym, e_ref in zip(model.species, model.reference_energies):
        net = model.networks[sym]
        setup = json.loads(model.descriptors[sym])
        arch = "-".join(str(n) for n in net.sizes)
        acts = ",".join(dict.fromkeys(net.activations[:-1])) or "linear"
        lines.append(
            f"    {sym:<3} {e_ref:18.9f}   {arch} {acts}   {setup.get('kind', '?')}, "
            f"cutoff {_max_cutoff(setup):g} Å, env {' '.join(setup.get('env', []))}"
        )
    return "\n".join(lines)


def _max_cutoff(setup: dict) -> float:
    if setup.get("kind") == "chebyshev":
        return max(setup["radial_cutoff"], setup["angular_cutoff"])
    return max((fn.get("Rc", 0.0) for fn in setup.get("functions", [])), default=0.0)


def dump_json(path: str | Path, stream: TextIO) -> None:
    """Write every structure of a training set with its per-atom features as JSON.

    The equivalent of ænet's ``trnset2ASCII.x``: one JSON document with ``species``,
    ``reference_energies`` and a list of structures (source, frame, energies, per-atom
    species, positions, forces and features).
    """
    from anncli.io.trainset import open_trainset, read_species

    with open_trainset(path) as f:
        species = read_species(f)
        s = f["structures"]
        offsets = s["atom_offset"][()]
        atom_species = f["atoms/species"][()]
        positions = f["atoms/positions"][()]
        forces = f["atoms/forces"][()]
        features = {}
        for sym in species:
            g = f["features"][sym]
            index = g["atom_index"][()]
            features.update(zip(index.tolist(), g["values"][()].tolist()))
        stream.write('{"species": %s, "reference_energies": %s, "structures": [\n' % (
            json.dumps(species), json.dumps(f["reference_energies"][()].tolist())))
        n_s = len(s["n_atoms"])
        for k in range(n_s):
            a, b = int(offsets[k]), int(offsets[k + 1])
            record = {
                "index": k,
                "source": _text(s["source"][k]),
                "frame": int(s["frame"][k]),
                "energy": float(s["energy"][k]),
                "cohesive_energy": float(s["cohesive_energy"][k]),
                "pbc": s["pbc"][k].tolist(),
                "cell": s["cell"][k].tolist(),
                "atoms": [
                    {
                        "species": species[atom_species[i]],
                        "position": positions[i].tolist(),
                        "force": None if np.isnan(forces[i]).any() else forces[i].tolist(),
                        "features": features[i],
                    }
                    for i in range(a, b)
                ],
            }
            stream.write(json.dumps(record))
            stream.write(",\n" if k < n_s - 1 else "\n")
        stream.write("]}\n")
