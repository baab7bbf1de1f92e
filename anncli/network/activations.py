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
from scipy.special import erf, expit

logger = logging.getLogger(__name__)

#: ænet's constants for the "modified tanh" (LeCun) activations.
MTANH_A = 1.7159
MTANH_B = 0.666666666666667
TWIST_SLOPE = 0.1

_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


def _linear(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return z, np.ones_like(z)


def _tanh(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.tanh(z)
    return f, 1.0 - f * f


def _sigmoid(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = expit(z)
    return f, f * (1.0 - f)


def _mtanh(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(MTANH_B * z)
    return MTANH_A * t, MTANH_A * MTANH_B * (1.0 - t * t)


def _twist(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(MTANH_B * z)
    return MTANH_A * t + TWIST_SLOPE * z, MTANH_A * MTANH_B * (1.0 - t * t) + TWIST_SLOPE


def _relu(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(z, 0.0), (z > 0.0).astype(z.dtype)


def _gelu(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cdf = 0.5 * (1.0 + erf(z * _SQRT_HALF))
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    return z * cdf, cdf + z * pdf


def _softplus(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.logaddexp(0.0, z), expit(z)


def _swish(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = expit(z)
    return z * s, s + z * s * (1.0 - s)


ACTIVATIONS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
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


def activate(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply activation ``name`` element-wise.

    Parameters
    ----------
    name : str
        Canonical activation name (see :data:`ACTIVATIONS`).
    z : ndarray
        Pre-activations.

    Returns
    -------
    f, df : ndarray, same shape as ``z``
        f(z) and f'(z).
    """
    return ACTIVATIONS[name](z)
