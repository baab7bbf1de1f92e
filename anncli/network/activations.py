"""Activation functions of the hidden layers and their derivatives.

This module owns the table of activation names.  ``linear``, ``tanh``, ``sigmoid``,
``mtanh`` and ``twist`` follow ænet 2.0.4 exactly (``ff_activate``; one-letter aliases
``l t s m w`` accepted as in ænet); ``relu``, ``gelu`` (exact, erf form), ``softplus`` and
``swish`` (x·sigmoid(x)) are additions.  Every function works on whole arrays and returns
both f(z) and f'(z) so that one call serves forward and backward passes.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)

#: ænet's constants for the "modified tanh" (LeCun) activations.
MTANH_A = 1.7159
MTANH_B = 0.666666666666667
TWIST_SLOPE = 0.1

_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


# scipy.special takes ~0.2 s to import and only sigmoid, gelu, softplus and swish need it:
# imported on first use so that a one-structure `anncli predict` with tanh networks skips it.
def expit(z, out=None):
    """scipy.special.expit (imported on first use)."""
    from scipy.special import expit as _expit

    return _expit(z) if out is None else _expit(z, out=out)


def erf(z):
    """scipy.special.erf (imported on first use)."""
    from scipy.special import erf as _erf

    return _erf(z)


# Every activation writes f(z) and f'(z) into preallocated arrays ``f`` and ``d`` (same shape
# as ``z``, which is not modified): a fresh temporary of a large batch costs page faults that
# are dearer than the arithmetic (measured: 1 - f*f on 14,000 x 15 values 1.35 ms as a new
# array, 0.05 ms in place).

def _linear(z, f, d):
    f[...] = z
    d[...] = 1.0


def _tanh(z, f, d):
    np.tanh(z, out=f)
    np.multiply(f, f, out=d)
    np.subtract(1.0, d, out=d)


def _sigmoid(z, f, d):
    expit(z, out=f)
    np.subtract(1.0, f, out=d)
    d *= f


def _mtanh(z, f, d):
    np.multiply(z, MTANH_B, out=f)
    np.tanh(f, out=f)
    np.multiply(f, f, out=d)
    np.subtract(1.0, d, out=d)
    d *= MTANH_A * MTANH_B
    f *= MTANH_A


def _twist(z, f, d):
    _mtanh(z, f, d)
    f += TWIST_SLOPE * z
    d += TWIST_SLOPE


def _relu(z, f, d):
    np.maximum(z, 0.0, out=f)
    np.greater(z, 0.0, out=d)


def _gelu(z, f, d):
    cdf = erf(z * _SQRT_HALF)
    cdf += 1.0
    cdf *= 0.5
    np.multiply(z, cdf, out=f)
    np.multiply(z, z, out=d)
    d *= -0.5
    np.exp(d, out=d)
    d *= _INV_SQRT_2PI
    d *= z
    d += cdf


def _softplus(z, f, d):
    np.logaddexp(0.0, z, out=f)
    expit(z, out=d)


def _swish(z, f, d):
    s = expit(z)
    np.multiply(z, s, out=f)
    np.subtract(1.0, s, out=d)
    d *= f
    d += s


ACTIVATIONS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], None]] = {
    "linear": _linear,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "mtanh": _mtanh,
    "twist": _twist,
    "relu": _relu,
    "gelu": _gelu,
    "softplus": _softplus,
    "swish": _swish,
}

#: ænet's one-letter names.
ALIASES = {"l": "linear", "t": "tanh", "s": "sigmoid", "m": "mtanh", "w": "twist"}


def canonical_name(name: str) -> str:
    """Return the canonical activation name for ``name`` (case-insensitive, ænet aliases).

    Raises
    ------
    ValueError
        Unknown name (the config layer turns this into a ConfigError naming the key).
    """
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; known activations are {', '.join(ACTIVATIONS)}"
        )
    return key


def activate(name: str, z: np.ndarray, f: np.ndarray | None = None,
             d: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply activation ``name`` element-wise.

    Parameters
    ----------
    name : str
        Canonical activation name (see :data:`ACTIVATIONS`).
    z : ndarray
        Pre-activations (not modified).
    f, d : ndarray, optional
        Output arrays of the shape of ``z`` (allocated if None; must not alias ``z``).

    Returns
    -------
    f, df : ndarray, same shape as ``z``
        f(z) and f'(z).
    """
    if f is None:
        f = np.empty_like(z)
    if d is None:
        d = np.empty_like(z)
    ACTIVATIONS[name](z, f, d)
    return f, d


def second_derivative(name: str, z: np.ndarray, f: np.ndarray, d: np.ndarray) -> np.ndarray:
    """f''(z) of activation ``name``, from z, f(z) and f'(z) (force training needs it).

    Parameters
    ----------
    name : str
        Canonical activation name.
    z, f, d : ndarray
        Pre-activations, f(z) and f'(z) as returned by :func:`activate`.

    Returns
    -------
    ndarray, same shape as ``z`` (new array)
    """
    if name in ("linear", "relu"):
        return np.zeros_like(z)
    if name == "tanh":
        return -2.0 * f * d
    if name == "sigmoid":
        return d * (1.0 - 2.0 * f)
    if name == "mtanh":  # f = A tanh(Bz): f'' = -2 (B/A) f f'
        return (-2.0 * MTANH_B / MTANH_A) * f * d
    if name == "twist":  # mtanh + slope * z
        return (-2.0 * MTANH_B / MTANH_A) * (f - TWIST_SLOPE * z) * (d - TWIST_SLOPE)
    if name == "gelu":  # f' = Phi + z phi, f'' = phi (2 - z^2)
        return _INV_SQRT_2PI * np.exp(-0.5 * z * z) * (2.0 - z * z)
    if name == "softplus":  # f' = sigmoid
        return d * (1.0 - d)
    if name == "swish":  # f = z s: f'' = s (1 - s) (2 + z (1 - 2 s))
        s = expit(z)
        return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))
    raise ValueError(f"unknown activation {name!r}")
