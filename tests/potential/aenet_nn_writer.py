"""Small ænet binary potentials (``*.nn``) for tests, written by the package's writer.

The files are encoded by :mod:`anncli.potential.aenet_nn_writer` (the one implementation of
the layout of train.x) from small seeded random models.  Tests build valid files with
:func:`write_nn` and damage single records with :func:`nn_records` / :func:`join_records`, so
they need no reference data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anncli.potential.aenet_nn_writer import aenet_nn_records, join_records

__all__ = ["RECORD", "nn_records", "join_records", "write_nn"]


def _descriptor(central: str, env: tuple[str, ...], kind: str, orders: tuple[int, int]) -> tuple[dict, int]:
    if kind == "chebyshev":
        n_r, n_a = orders
        d = {"kind": "chebyshev", "central": central, "env": list(env), "radial_cutoff": 4.5,
             "radial_order": n_r, "angular_cutoff": 3.5, "angular_order": n_a, "weights": None}
        return d, (n_r + 1 + n_a + 1) * (2 if len(env) > 1 else 1)
    functions = [{"G": 2, "type2": s, "eta": 0.5, "Rs": 0.0, "Rc": 4.0} for s in env]
    functions += [{"G": 4, "type2": s, "type3": s, "eta": 0.1, "lambda": 1.0, "zeta": 2.0, "Rc": 4.0}
                  for s in env]
    return {"kind": "behler2011", "central": central, "env": list(env), "functions": functions}, len(functions)


def nn_records(central: str = "Ti", env: tuple[str, ...] = ("Ti", "O"), kind: str = "chebyshev",
               hidden: tuple[int, ...] = (3,), seed: int = 0, orders: tuple[int, int] = (2, 1)) -> list[bytes]:
    """Payloads of the records of a small valid potential of species ``central``.

    Parameters
    ----------
    central : str
        The species of the potential (ATOM); one of ``env``.
    env : tuple of str
        Environment species; also the model's species and the training set's type list.
    kind : str
        ``"chebyshev"`` (radial_N, angular_N = ``orders``) or ``"behler2011"`` (a G2 and a G4
        function per species).
    hidden : tuple of int
        Hidden layer sizes (tanh); the output layer is linear.
    seed : int
        Seed of the weights and feature statistics.
    """
    from anncli.network.mlp import Network
    from anncli.potential.model_file import Model

    rng = np.random.default_rng(seed)
    species = list(env)
    descriptors, nets, mean, std, lo, hi = {}, {}, {}, {}, {}, {}
    for sym in species:
        d, nsf = _descriptor(sym, env, kind, orders)
        descriptors[sym] = json.dumps(d)
        net = Network([nsf, *hidden, 1], ["tanh"] * len(hidden) + ["linear"])
        net.params[:] = rng.normal(scale=0.3, size=net.n_params)
        nets[sym] = net
        mean[sym] = rng.normal(size=nsf)
        std[sym] = np.sqrt(rng.uniform(0.1, 1.0, size=nsf))
        lo[sym], hi[sym] = mean[sym] - 3.0, mean[sym] + 3.0
    model = Model(species=species, reference_energies=-rng.uniform(1, 2, size=len(species)),
                  descriptors=descriptors, feature_mean=mean, feature_std=std, feature_min=lo,
                  feature_max=hi, networks=nets, energy_shift=-1.0, energy_scale=0.5,
                  metadata={"trainset": "refdata.train", "n_train": 40, "n_validation": 10})
    return aenet_nn_records(model, central, rmin=0.75)


#: Index of the records of :func:`nn_records` by name (those the tests damage).
RECORD = {"nlayers": 0, "Wsize": 2, "nnodes": 4, "f_a": 5, "iw": 6, "W": 8, "atomtype": 10,
          "nenv": 11, "envtypes": 12, "Rc_min": 13, "sftype": 15, "nsf": 16, "nsfparam": 17, "sf": 18,
          "sfparam": 19, "sfenv": 20, "sfval_min": 22, "sfval_max": 23, "sfval_avg": 24,
          "sfval_cov": 25, "scale": 28, "shift": 29, "nTypes": 30, "typeName": 31, "E_atom": 32}


def write_nn(path: str | Path, records: list[bytes] | None = None, **kwargs) -> Path:
    """Write ``records`` (default: ``nn_records(**kwargs)``) to ``path``."""
    path = Path(path)
    path.write_bytes(join_records(records if records is not None else nn_records(**kwargs)))
    return path

