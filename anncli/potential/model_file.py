"""The model file: a trained potential in one self-contained, versioned HDF5 file.

This module owns :class:`Model` (species, reference energies, descriptor setups, feature
normalisation, one network per species, energy shift/scale, training metadata), its energy
evaluation and :func:`save_model` / :func:`load_model`.  The layout is docs/model-format.md.

Energy of atom i of species t with raw features G_i:
``E_i = ANN_t((G_i - mean_t)/std_t) / scale + shift + E_atom(t)``  (eV).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anncli import __version__
from anncli.exceptions import FileFormatError
from anncli.network.mlp import Network

if TYPE_CHECKING:  # annotations only: h5py is imported where files are read or written
    import h5py

logger = logging.getLogger(__name__)

FORMAT = "anncli-model"
FORMAT_VERSION = 1
#: Format version of a model with a Δ-learning baseline: readers that do not know the
#: ``baseline`` attribute would drop it and predict the networks' correction alone, so such
#: files carry version 2, which they refuse.  Files without a baseline stay version 1.
BASELINE_FORMAT_VERSION = 2
READ_VERSIONS = (FORMAT_VERSION, BASELINE_FORMAT_VERSION)


@dataclass
class Model:
    """A trained potential.

    Attributes
    ----------
    species : list of str
    reference_energies : ndarray of shape (n_species,), eV
        Free-atom energies E_atom added to every atomic energy.
    descriptors : dict of str to str
        Descriptor setup (JSON) of each species, as in the training set.
    feature_mean, feature_std, feature_min, feature_max : dict of str to ndarray (n_features,)
        Normalisation and range of the raw training features.
    networks : dict of str to Network
    energy_shift : float, eV/atom
    energy_scale : float, 1/eV
    metadata : dict
        Training metadata (JSON-serialisable): epochs, errors, seed, input text, ...
    energy_unit, length_unit : str
    committee : list of dict of str to Network
        Further members of a committee (query by committee): networks of the same
        architecture trained from other initial weights (or resampled data) on the same split
        and normalisation.  Empty for a single model; ``networks`` is always member 0.
    baseline : dict or None
        Δ-learning baseline (:mod:`anncli.potential.baseline`) the networks correct:
        predict, validate and the ASE calculator add its energies, forces and stress to
        the networks'.  None: the networks are the whole potential.
    """

    species: list[str]
    reference_energies: np.ndarray
    descriptors: dict[str, str]
    feature_mean: dict[str, np.ndarray]
    feature_std: dict[str, np.ndarray]
    feature_min: dict[str, np.ndarray]
    feature_max: dict[str, np.ndarray]
    networks: dict[str, Network]
    energy_shift: float
    energy_scale: float
    metadata: dict = field(default_factory=dict)
    energy_unit: str = "eV"
    length_unit: str = "Angstrom"
    committee: list[dict[str, Network]] = field(default_factory=list)
    baseline: dict | None = None

    @property
    def n_members(self) -> int:
        """Number of networks per species: 1 for a single model, N for a committee."""
        return 1 + len(self.committee)

    def member_networks(self) -> list[dict[str, Network]]:
        """The networks of every member, member 0 (``networks``) first."""
        return [self.networks, *self.committee]

    def _normalise(self, sym: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = self.feature_std[sym]
        inv = np.where(std > 1e-10, 1.0 / np.where(std > 1e-10, std, 1.0), 0.0)
        return (np.asarray(x, dtype=float) - self.feature_mean[sym]) * inv, inv

    def reference_energy(self, sym: str) -> float:
        return float(self.reference_energies[self.species.index(sym)])

    def atomic_energies(self, features_by_species: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Energy of every atom.

        Parameters
        ----------
        features_by_species : dict of str to ndarray of shape (n_a_sp, n_features)
            Raw features.

        Returns
        -------
        dict of str to ndarray of shape (n_a_sp,), eV
            Atomic energies including the free-atom reference energy.
        """
        out = {}
        for sym, x in features_by_species.items():
            xn, _ = self._normalise(sym, x)
            y = self.networks[sym].forward(xn) if len(xn) else np.zeros(0)
            out[sym] = y / self.energy_scale + self.energy_shift + self.reference_energy(sym)
        return out

    def atomic_energies_and_gradients(self, features_by_species: dict[str, np.ndarray]):
        """Atomic energies and their gradients with respect to the raw features (for forces).

        Returns
        -------
        dict of str to (ndarray of shape (n_a_sp,), ndarray of shape (n_a_sp, n_features))
            E_i (eV) and dE_i/dG_i (eV per feature unit).
        """
        out = {}
        for sym, x in features_by_species.items():
            xn, inv = self._normalise(sym, x)
            if len(xn) == 0:
                out[sym] = (np.zeros(0), np.zeros((0, self.networks[sym].n_inputs)))
                continue
            y, dydx = self.networks[sym].input_gradient(xn)
            energy = y / self.energy_scale + self.energy_shift + self.reference_energy(sym)
            out[sym] = (energy, dydx * (inv / self.energy_scale))
        return out

    def energies(self, features_by_species: dict[str, np.ndarray],
                 structure_index_by_species: dict[str, np.ndarray], n_structures: int,
                 *, cohesive: bool = False) -> np.ndarray:
        """Total (or cohesive) energy of every structure.

        Parameters
        ----------
        features_by_species : dict of str to ndarray of shape (n_a_sp, n_features)
        structure_index_by_species : dict of str to ndarray of shape (n_a_sp,), int
            Structure (0..n_structures-1) of every atom.
        n_structures : int
        cohesive : bool
            Leave out the free-atom reference energies.

        Returns
        -------
        ndarray of shape (n_structures,), eV
        """
        total = np.zeros(n_structures)
        for sym, e in self.atomic_energies(features_by_species).items():
            if cohesive:
                e = e - self.reference_energy(sym)
            total += np.bincount(np.asarray(structure_index_by_species[sym], dtype=np.int64), e,
                                 minlength=n_structures)
        return total


def save_model(path: str | Path, model: Model) -> Path:
    """Write ``model`` to ``path`` atomically (:func:`anncli.io.atomic.atomic_path`)."""
    import h5py  # imported here: reading ænet .nn files needs Model, not h5py

    from anncli.io.atomic import atomic_path

    path = Path(path)
    str_dt = h5py.string_dtype()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(
                format=FORMAT,
                format_version=BASELINE_FORMAT_VERSION if model.baseline else FORMAT_VERSION,
                anncli_version=__version__,
                created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                energy_unit=model.energy_unit,
                length_unit=model.length_unit,
                energy_shift=float(model.energy_shift),
                energy_scale=float(model.energy_scale),
                metadata=json.dumps(model.metadata),
            )
            if model.baseline:
                f.attrs["baseline"] = json.dumps(model.baseline)
            f.create_dataset("species", data=np.array(model.species, dtype=object), dtype=str_dt)
            f.create_dataset("reference_energies",
                             data=np.asarray(model.reference_energies, dtype=float))
            for sym in model.species:
                net = model.networks[sym]
                g = f.create_group(f"networks/{sym}")
                g.attrs["descriptor"] = model.descriptors[sym]
                g.attrs["layer_sizes"] = np.asarray(net.sizes, dtype=np.int64)
                g.attrs["activations"] = json.dumps(net.activations)
                for name in ("feature_mean", "feature_std", "feature_min", "feature_max"):
                    g.create_dataset(name, data=np.asarray(getattr(model, name)[sym], dtype=float))
                _write_layers(g, net)
            if model.committee:
                f.attrs["committee_size"] = model.n_members
                for k, nets in enumerate(model.committee, start=1):
                    for sym in model.species:
                        net = nets[sym]
                        if net.sizes != model.networks[sym].sizes:
                            raise ValueError(f"committee member {k}: the {sym} network has layers {net.sizes}, "
                                             f"member 0 has {model.networks[sym].sizes}")
                        g = f.create_group(f"committee/member_{k}/{sym}")
                        g.attrs["activations"] = json.dumps(net.activations)
                        _write_layers(g, net)
    logger.debug("model written: %s", path)
    return path


def _write_layers(g: h5py.Group, net: Network) -> None:
    for l, (w, b) in enumerate(zip(net.weights, net.biases), start=1):
        g.create_dataset(f"W{l}", data=np.array(w))
        g.create_dataset(f"b{l}", data=np.array(b))


def _read_network(g: h5py.Group, sizes: list[int], activations: list[str]) -> Network:
    net = Network(sizes, activations)
    for l in range(1, len(sizes)):
        net.weights[l - 1][...] = g[f"W{l}"][()]
        net.biases[l - 1][...] = g[f"b{l}"][()]
    return net


def load_model(path: str | Path) -> Model:
    """Read a model file.

    Raises
    ------
    FileFormatError
        Missing or unreadable file, not an anncli model, another format version, or an
        inconsistent layout.
    """
    from anncli.io.h5files import open_checked

    path = Path(path)
    with open_checked(path, FORMAT, READ_VERSIONS, "model file") as f:
        try:
            species = [s.decode() if isinstance(s, bytes) else str(s) for s in f["species"][()]]
            kwargs: dict = {k: {} for k in ("descriptors", "feature_mean", "feature_std",
                                            "feature_min", "feature_max", "networks")}
            for sym in species:
                g = f["networks"][sym]
                kwargs["descriptors"][sym] = str(g.attrs["descriptor"])
                for name in ("feature_mean", "feature_std", "feature_min", "feature_max"):
                    kwargs[name][sym] = np.asarray(g[name][()], dtype=float)
                sizes = [int(n) for n in g.attrs["layer_sizes"]]
                kwargs["networks"][sym] = _read_network(g, sizes, json.loads(g.attrs["activations"]))
            committee = []
            for k in range(1, int(f.attrs.get("committee_size", 1))):
                member = {}
                for sym in species:
                    g = f[f"committee/member_{k}/{sym}"]
                    member[sym] = _read_network(g, kwargs["networks"][sym].sizes,
                                                json.loads(g.attrs["activations"]))
                committee.append(member)
            model = Model(
                species=species,
                reference_energies=np.asarray(f["reference_energies"][()], dtype=float),
                energy_shift=float(f.attrs["energy_shift"]),
                energy_scale=float(f.attrs["energy_scale"]),
                metadata=json.loads(f.attrs.get("metadata", "{}")),
                energy_unit=str(f.attrs.get("energy_unit", "eV")),
                length_unit=str(f.attrs.get("length_unit", "Angstrom")),
                committee=committee,
                baseline=json.loads(f.attrs["baseline"]) if "baseline" in f.attrs else None,
                **kwargs,
            )
        except (KeyError, ValueError) as exc:
            raise FileFormatError(f"{path}: inconsistent model file ({exc})") from None
    return model
