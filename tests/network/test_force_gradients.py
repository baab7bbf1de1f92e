"""What force training needs from a network: f'' of every activation, the input gradient
from a forward cache, and the parameter gradient of v . dy/dx (checked by finite differences)."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.network.activations import ACTIVATIONS, activate, second_derivative
from anncli.network.mlp import Network, init_network_params


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_second_derivative_matches_finite_differences(name):
    z = np.linspace(-3.0, 3.0, 25) + 0.013  # avoid relu's kink at 0
    f, d = activate(name, z)
    h = 1e-5
    numeric = (activate(name, z + h)[1] - activate(name, z - h)[1]) / (2 * h)
    np.testing.assert_allclose(second_derivative(name, z, f, d), numeric, atol=1e-8)


@pytest.mark.parametrize("acts", [
    ["tanh", "tanh", "linear"],
    ["gelu", "swish", "linear"],
    ["twist", "linear"],
    ["sigmoid", "softplus", "mtanh", "linear"],
    ["relu", "linear"],
])
def test_force_backward_is_the_gradient_of_the_directional_input_derivative(acts):
    rng = np.random.default_rng(len(acts))
    sizes = [5] + [7] * (len(acts) - 1) + [1]
    net = Network(sizes, acts)
    init_network_params(net, rng)
    x = rng.normal(size=(9, 5))
    v = rng.normal(size=(9, 5))
    y, cache = net.forward_curvature(x)
    y_plain, g_plain = net.input_gradient(x)
    np.testing.assert_allclose(net.input_gradient_from_cache(cache), g_plain, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(y, y_plain, rtol=1e-13)
    grad = net.force_backward(cache, v)

    def objective() -> float:
        return float((v * net.input_gradient(x)[1]).sum())

    h = 1e-6
    numeric = np.zeros(net.n_params)
    for i in range(net.n_params):
        p = net.params[i]
        net.params[i] = p + h
        up = objective()
        net.params[i] = p - h
        down = objective()
        net.params[i] = p
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8 * np.abs(numeric).max())
    assert np.abs(grad).max() > 1e-3
