"""Numbers as Fortran's list-directed input reads them (ænet's XSF, .stp and generate.in files).

This module owns the one conversion of a number token used by every ænet-format reader
(:mod:`anncli.io.xsf`, :mod:`anncli.io.aenet_inputs`): Python's :func:`float` grammar plus
Fortran's ``d``/``D`` exponent (``0.75d0``, ``-1.5D+01``).  The callers turn a ValueError into
their own message naming the file and the line.
"""

from __future__ import annotations

__all__ = ["fortran_float"]


def fortran_float(token: str) -> float:
    """Parse one number token, also with a Fortran ``d``/``D`` exponent.

    Parameters
    ----------
    token : str
        The token (surrounding blanks are allowed, as for :func:`float`).

    Returns
    -------
    float
        The correctly rounded double, bit-identical to ``float(token)`` with the ``d`` read
        as ``e``.  ``nan`` and ``inf`` are returned as such: callers that need a finite
        number check it (with a message of their own).

    Raises
    ------
    ValueError
        If the token is not a number.
    """
    try:
        return float(token)  # the common case: one C call, no copy of the token
    except ValueError:
        if "d" in token or "D" in token:
            return float(token.replace("d", "e").replace("D", "E"))
        raise
