"""Synthetic training sets: random features, energies from a known random network.

Files are written with the project's TrainsetWriter, i.e. exactly the layout of
docs/trainset-format.md, so the reader is tested against the real writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anncli.io.trainset import TrainsetWriter
from anncli.network.mlp import Network


class FakeDescriptor:
    def __init__(self, sym: str, n_features: int) -> None:
        self.sym = sym
        self.n_features = n_features

    def to_dict(self) -> dict:
        return {"type": "synthetic", "species": self.sym, "n_features": self.n_features}


def teacher_networks(species, n_features, seed=123):
    rng = np.random.default_rng(seed)
    nets = {}
    for sym in species:
        net = Network([n_features, 6, 1], ["tanh", "linear"])
        net.params[:] = rng.normal(scale=0.6, size=net.n_params)
        nets[sym] = net
    return nets


def write_synthetic_trainset(path: Path, *, n_structures: int = 120, n_features: int = 5,
                             species=("A", "B"), seed: int = 0, constant_feature: bool = False,
                             absent_species: str | None = None, ref_shift: float = 0.0,
                             feature_scale: float = 1.0) -> dict:
    """Write a training set; energies = sum of teacher-network atomic energies (eV)."""
    rng = np.random.default_rng(seed)
    teacher = teacher_networks(species, n_features)
    ref = np.array([-10.0 - 5 * i + ref_shift * (i + 1) for i in range(len(species))])
    setups = {s: FakeDescriptor(s, n_features) for s in species}
    n_atoms = rng.integers(2, 9, size=n_structures)
    atom_species = []
    for k, n in enumerate(n_atoms):
        sp = rng.integers(0, len(species), size=n)
        if absent_species is not None:
            sp[:] = [i for i, s in enumerate(species) if s != absent_species][0]
        elif k < len(species):
            sp[0] = k  # every species present
        atom_species.append(sp)
    atom_species_flat = np.concatenate(atom_species).astype(np.int32)
    n_total = len(atom_species_flat)
    feats = rng.normal(size=(n_total, n_features)) * np.linspace(0.5, 3.0, n_features) * feature_scale + 2.0
    if constant_feature:
        feats[:, -1] = 1.5
    atom_energy = np.zeros(n_total)
    for i, sym in enumerate(species):
        mask = atom_species_flat == i
        if mask.any():
            x = (feats[mask] - 2.0) / 1.5
            atom_energy[mask] = 0.3 * teacher[sym].forward(x) - 0.5 * i
    struct = np.repeat(np.arange(n_structures), n_atoms)
    coh = np.bincount(struct, atom_energy, minlength=n_structures)
    total = coh + np.bincount(struct, ref[atom_species_flat], minlength=n_structures)
    with TrainsetWriter(path, list(species), ref, setups) as w:
        w.append(
            structures={
                "energy": total, "cohesive_energy": coh, "n_atoms": n_atoms,
                "cell": np.zeros((n_structures, 3, 3)), "pbc": np.zeros((n_structures, 3), bool),
                "source": np.array([f"s{k:04d}.xsf" for k in range(n_structures)], dtype=object),
                "frame": np.zeros(n_structures, dtype=np.int64),
                "has_forces": np.zeros(n_structures, bool),
            },
            atoms={"species": atom_species_flat, "positions": np.zeros((n_total, 3)),
                   "forces": np.full((n_total, 3), np.nan)},
            features={s: (np.flatnonzero(atom_species_flat == i), feats[atom_species_flat == i])
                      for i, s in enumerate(species)},
        )
        w.close()
    return {"path": path, "cohesive": coh, "n_atoms": n_atoms, "features": feats,
            "species_of_atom": atom_species_flat, "structure_of_atom": struct}


@pytest.fixture
def synthetic(tmp_path):
    return write_synthetic_trainset(tmp_path / "train.h5")


def train_config(tmp_path: Path, trainset: Path, **overrides):
    from anncli.config.train import TrainConfig

    base = {
        "trainset": str(trainset),
        "output": str(tmp_path / "out" / "model.h5"),
        "seed": 7,
        "validation_fraction": 0.2,
        "networks": {"default": {"hidden": [8], "activation": "tanh"}},
        "optimizer": {"method": "lbfgs"},
        "epochs": 30,
        "checkpoint_every": 0,
    }
    base.update(overrides)
    (tmp_path / "out").mkdir(exist_ok=True)
    return TrainConfig.model_validate(base)
