"""The per-centre network kernel of the fused force pass (anncli.network._atomic_nb):
energy and dE/dx against plain numpy, also when hidden layers are wider than the input
(it once used the input-sized gradient array as scratch for wider layers: silent heap
corruption in predict, validate and MD with e.g. 2x50 networks on 34 features)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from anncli.network._atomic_nb import energy_and_gradient, pack_networks


def _numpy_energy_and_gradient(net, x: np.ndarray) -> tuple[float, np.ndarray]:
    h, derivs = x, []
    for w, b in zip(net.w[:-1], net.b[:-1]):
        h = np.tanh(w @ h + b)
        derivs.append(1.0 - h * h)
    energy = float((net.w[-1] @ h + net.b[-1])[0])
    delta = net.w[-1][0]
    for w, d in zip(net.w[-2::-1], derivs[::-1]):
        delta = (delta * d) @ w
    return energy, delta


@pytest.mark.parametrize("sizes", [(4, 50, 50, 1), (4, 3, 1), (6, 2, 9, 1), (5, 1)])
def test_energy_and_gradient_match_numpy_and_write_nothing_beyond_the_gradient(sizes):
    rng = np.random.default_rng(len(sizes))
    net = SimpleNamespace(w=[rng.normal(scale=0.5, size=(n_out, n_in)) for n_in, n_out in zip(sizes, sizes[1:])],
                          b=[rng.normal(size=n_out) for n_out in sizes[1:]], acts=["tanh"] * (len(sizes) - 2))
    packed = pack_networks([net])
    x = rng.normal(size=sizes[0])
    hbuf = np.empty((packed.layers.shape[1] + 1, packed.width))
    dbuf = np.empty((packed.layers.shape[1], packed.width))
    guarded = np.full(sizes[0] + 64, 7.0)  # the gradient, then 64 guard values
    energy = energy_and_gradient(x, packed.wflat, packed.layers, packed.n_layers, 0, hbuf, dbuf,
                                 guarded[:sizes[0]])
    expected_energy, expected_grad = _numpy_energy_and_gradient(net, x)
    assert energy == pytest.approx(expected_energy, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(guarded[:sizes[0]], expected_grad, rtol=1e-10, atol=1e-12)
    assert np.all(guarded[sizes[0]:] == 7.0)  # nothing written past the gradient
