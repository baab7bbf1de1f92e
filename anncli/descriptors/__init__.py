"""Descriptors (atomic fingerprints): registry of the descriptor families.

``DESCRIPTORS`` maps the ``kind`` name used in input files and model files to the
setup class of a family; :func:`descriptor_from_dict` rebuilds a setup from its
``to_dict()`` output.  Importing this package is cheap: the Numba kernels are
compiled (or loaded from cache) on first use.
"""

from __future__ import annotations

import inspect
import logging

from anncli.descriptors.base import Descriptor, NeighborList
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

DESCRIPTORS: dict[str, type] = {"chebyshev": ChebyshevSetup}

try:  # the Behler family is written by another helper and may not exist yet
    from anncli.descriptors.behler import BehlerSetup  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the state of the repository
    BehlerSetup = None
else:
    DESCRIPTORS["behler2011"] = BehlerSetup

__all__ = ["DESCRIPTORS", "ChebyshevSetup", "Descriptor", "NeighborList", "descriptor_from_dict"]


def descriptor_from_dict(d: dict, where: str = "") -> Descriptor:
    """Rebuild a descriptor setup from its ``to_dict()`` output.

    Parameters
    ----------
    d : dict
        Must contain ``"kind"``, a key of :data:`DESCRIPTORS`.
    where : str
        Location used in error messages.

    Raises
    ------
    ConfigError
        Unknown kind or invalid parameters.
    """
    loc = where or "a descriptor setup"
    if not isinstance(d, dict):
        raise ConfigError(f"{loc[0].upper() + loc[1:]} must be a mapping. Got {type(d).__name__} instead.")
    kind = d.get("kind")
    if kind == "unavailable":  # features converted from ænet that anncli cannot compute
        raise ConfigError(f"{loc[0].upper() + loc[1:]} cannot be computed by anncli: "
                          f"{d.get('reason', 'no setup was recorded')}.")
    cls = DESCRIPTORS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(
            f"The 'kind' of {loc} must be one of {', '.join(sorted(DESCRIPTORS))}. Got {kind!r} instead."
        )
    try:
        if "where" in inspect.signature(cls.from_dict).parameters:
            return cls.from_dict(d, where=where)
        return cls.from_dict(d)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"{loc[0].upper() + loc[1:]} has invalid parameters: {exc}.") from exc
