"""Network arithmetic: activations vs ænet formulas, gradients vs finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anncli.network import ACTIVATIONS, Batch, Network, SpeciesNetworks, activate, canonical_name

Z = np.linspace(-4.0, 4.0, 41)


def _aenet_reference(name: str, z: float) -> float:
    """ænet 2.0.4 ff_activate formulas, and textbook definitions of the additions."""
    if name == "linear":
        return z
    if name == "tanh":
        return math.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z))
    if name == "mtanh":
        return 1.7159 * math.tanh(0.666666666666667 * z)
    if name == "twist":
        return 1.7159 * math.tanh(0.666666666666667 * z) + 0.1 * z
    if name == "relu":
        return max(z, 0.0)
    if name == "gelu":
        return 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0)))
    if name == "softplus":
        return math.log(1.0 + math.exp(z))
    if name == "swish":
        return z / (1.0 + math.exp(-z))
    raise KeyError(name)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_values_and_derivatives(name):
    f, df = activate(name, Z.copy())
    ref = np.array([_aenet_reference(name, z) for z in Z])
    np.testing.assert_allclose(f, ref, rtol=1e-13, atol=1e-14)
    h = 1e-6
    zz = Z[np.abs(Z) > 1e-3] if name == "relu" else Z  # relu kink at 0
    fd = (np.array([_aenet_reference(name, z + h) for z in zz])
          - np.array([_aenet_reference(name, z - h) for z in zz])) / (2 * h)
    _, dfz = activate(name, zz.copy())
    np.testing.assert_allclose(dfz, fd, rtol=1e-7, atol=1e-8)


def test_aenet_aliases_and_unknown():
    assert canonical_name("t") == "tanh"
    assert canonical_name("w") == "twist"
    assert canonical_name("TANH") == "tanh"
    with pytest.raises(ValueError, match="unknown activation"):
        canonical_name("tanhh")


def _random_net(act, rng, sizes=(5, 4, 3, 1)):
    net = Network(list(sizes), [act] * (len(sizes) - 2) + ["linear"])
    net.params[:] = rng.normal(scale=0.8, size=net.n_params)
    return net


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_weight_gradient_vs_finite_differences(name):
    rng = np.random.default_rng(1)
    net = _random_net(name, rng)
    x = rng.normal(size=(7, 5))
    c = rng.normal(size=7)  # loss = sum(c * y)
    _, cache = net.forward(x, keep=True)
    grad = net.backward(cache, c)
    h = 1e-6
    fd = np.empty(net.n_params)
    for k in range(net.n_params):
        old = net.params[k]
        net.params[k] = old + h
        up = c @ net.forward(x)
        net.params[k] = old - h
        dn = c @ net.forward(x)
        net.params[k] = old
        fd[k] = (up - dn) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)
    jac = net.per_sample_jacobian(cache)
    np.testing.assert_allclose(c @ jac, grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["tanh", "gelu", "twist", "sigmoid"])
def test_input_gradient_vs_finite_differences(name):
    rng = np.random.default_rng(2)
    net = _random_net(name, rng)
    x = rng.normal(size=(6, 5))
    y, dydx = net.input_gradient(x)
    np.testing.assert_allclose(y, net.forward(x), rtol=0, atol=0)
    h = 1e-6
    for f in range(5):
        xp, xm = x.copy(), x.copy()
        xp[:, f] += h
        xm[:, f] -= h
        fd = (net.forward(xp) - net.forward(xm)) / (2 * h)
        np.testing.assert_allclose(dydx[:, f], fd, rtol=1e-7, atol=1e-9)


def test_forward_matches_plain_loop():
    rng = np.random.default_rng(3)
    net = _random_net("tanh", rng, sizes=(4, 3, 2, 1))
    x = rng.normal(size=(3, 4))
    y = net.forward(x)
    for i in range(3):
        h = x[i]
        for l, (w, b) in enumerate(zip(net.weights, net.biases)):
            z = np.array([sum(w[o, j] * h[j] for j in range(len(h))) + b[o] for o in range(len(b))])
            h = z if l == len(net.weights) - 1 else np.tanh(z)
        assert abs(h[0] - y[i]) < 1e-14


def test_species_loss_gradient_and_jacobian():
    rng = np.random.default_rng(4)
    nets = SpeciesNetworks(["A", "B"], {"A": [3, 4, 1], "B": [2, 3, 3, 1]},
                           {"A": ["tanh", "linear"], "B": ["gelu", "swish", "linear"]})
    nets.initialize(rng)
    k = 5
    sidx_a = np.sort(rng.integers(0, k, size=9))
    sidx_b = np.sort(rng.integers(0, k, size=6))
    n_atoms = (np.bincount(sidx_a, minlength=k) + np.bincount(sidx_b, minlength=k)).astype(float)
    n_atoms[n_atoms == 0] = 1.0  # a structure without atoms would divide by zero
    batch = Batch(ids=np.arange(k), n_atoms=n_atoms, targets=rng.normal(size=k),
                  weights=rng.uniform(0.5, 2, size=k),
                  x={"A": rng.normal(size=(9, 3)), "B": rng.normal(size=(6, 2))},
                  sidx={"A": sidx_a, "B": sidx_b})
    loss, grad, r = nets.loss_grad(batch)
    # plain reference of the prediction
    p = np.zeros(k)
    for i, s in enumerate(sidx_a):
        p[s] += nets.nets["A"].forward(batch.x["A"][i:i + 1])[0]
    for i, s in enumerate(sidx_b):
        p[s] += nets.nets["B"].forward(batch.x["B"][i:i + 1])[0]
    p /= n_atoms
    np.testing.assert_allclose(nets.predict(batch), p, rtol=1e-14)
    assert loss == pytest.approx(0.5 * np.sum(batch.weights * (p - batch.targets) ** 2), rel=1e-13)
    h = 1e-6
    fd = np.empty(nets.n_params)
    base = nets.params.copy()
    for j in range(nets.n_params):
        nets.params[j] = base[j] + h
        up = nets.loss_grad(batch)[0]
        nets.params[j] = base[j] - h
        dn = nets.loss_grad(batch)[0]
        nets.params[j] = base[j]
        fd[j] = (up - dn) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    pj, jac = nets.jacobian(batch)
    np.testing.assert_allclose(pj, p, rtol=1e-14)
    np.testing.assert_allclose((batch.weights * r) @ jac, grad, rtol=1e-12, atol=1e-13)
