"""Numba kernel of the XSF atom-block parse (private; used by :mod:`anncli.io.xsf`).

The kernel reads the atom lines of one block (``symbol x y z`` or ``symbol x y z fx fy fz``,
joined with ``\\n`` and encoded) and returns the numbers together with the symbols as byte
spans.  It handles only the common case and answers "not handled" for everything else, so
that the caller falls back to its Python parse, which produces the values and the error
messages of record.

Exactness: a number is accepted only if its value is one correctly rounded IEEE operation on
exact operands (Clinger's fast path), so the result is the double that Python's ``float()``
returns for the same token (with ``d``/``D`` exponents read as ``e``):

* token grammar ``[+-]? (digits [. digits?] | . digits) ([eEdD] [+-]? digits)?``;
* the decimal significand ``m`` (all digits, leading zeros dropped) is an integer
  ``<= 2**53``, so ``float(m)`` is exact;
* the value is ``m * 10**e`` with ``|e| <= 22``, where ``10**e`` is an exact double, and is
  computed as ``m * 10.0**e`` or ``m / 10.0**-e``: a single correctly rounded operation;
* ``m == 0`` gives a zero of the token's sign for any exponent.

Anything else is "not handled": significands above 2**53 (most 17-digit ones, such as the
``repr`` of an arbitrary double), larger exponents, ``nan``/``inf``, ``_`` digit separators,
non-ASCII bytes, control characters, other column counts, more than 118 distinct symbols.
Token separators are spaces and tabs, which Python's :meth:`str.split` also splits on; a
line holding any other byte below ``0x21`` or above ``0x7e`` is not handled.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Status codes of :func:`parse_atom_block`.
OK = 0
BAD_COLUMNS = 1  # a line with other than 4 or 7 tokens, or lines of different widths
BAD_NUMBER = 2  # a number token outside the exact fast path
BAD_BYTE = 3  # a byte other than printable ASCII, space, tab or the line separator
BAD_LINES = 4  # the buffer does not hold exactly n_lines non-blank lines
TOO_MANY_SYMBOLS = 5  # more distinct symbols than elements: some are invalid anyway

#: 10**k for k = 0..22: exact doubles (10**22 = 2**22 * 5**22 with 5**22 < 2**53).
_POW10 = np.array([float(10**k) for k in range(23)])
_MAX_EXACT = 2**53  # integers up to this are exact doubles
_MAX_SYMBOLS = 118  # elements H..Og; also bounds the quadratic search for repeated symbols

_SPACE, _TAB, _NL = 32, 9, 10
_PLUS, _MINUS, _DOT = 43, 45, 46
_ZERO, _NINE = 48, 57


@njit(nogil=True, cache=True)
def _number(buf: bytes, pos: int) -> tuple[float, int]:  # pragma: no cover - jitted
    """Parse the number token at ``buf[pos]``.

    Parameters
    ----------
    buf : bytes
        The block.
    pos : int
        Index of the token's first byte (not a separator).

    Returns
    -------
    value : float
        The exact double of the token (0.0 if not handled).
    end : int
        Index just after the token, or -1 if the token is outside the fast path.
    """
    n = len(buf)
    neg = False
    c = buf[pos]
    if c == _PLUS or c == _MINUS:
        neg = c == _MINUS
        pos += 1
    sig = 0
    exp10 = 0
    digits = False
    while pos < n and _ZERO <= buf[pos] <= _NINE:
        sig = sig * 10 + (buf[pos] - _ZERO)
        if sig > _MAX_EXACT:
            return 0.0, -1
        digits = True
        pos += 1
    if pos < n and buf[pos] == _DOT:
        pos += 1
        while pos < n and _ZERO <= buf[pos] <= _NINE:
            sig = sig * 10 + (buf[pos] - _ZERO)
            if sig > _MAX_EXACT:
                return 0.0, -1
            exp10 -= 1
            digits = True
            pos += 1
    if not digits:
        return 0.0, -1
    if pos < n:
        c = buf[pos] | 32  # ASCII lower case
        if c == 101 or c == 100:  # 'e' or 'd'
            pos += 1
            eneg = False
            if pos < n and (buf[pos] == _PLUS or buf[pos] == _MINUS):
                eneg = buf[pos] == _MINUS
                pos += 1
            e = 0
            edigits = False
            while pos < n and _ZERO <= buf[pos] <= _NINE:
                if e < 100000:  # any larger exponent is outside the fast path anyway
                    e = e * 10 + (buf[pos] - _ZERO)
                edigits = True
                pos += 1
            if not edigits:
                return 0.0, -1
            exp10 += -e if eneg else e
    if pos < n and buf[pos] != _SPACE and buf[pos] != _TAB and buf[pos] != _NL:
        return 0.0, -1
    if sig == 0:
        value = 0.0
    elif 0 <= exp10 <= 22:
        value = float(sig) * _POW10[exp10]
    elif -22 <= exp10 < 0:
        value = float(sig) / _POW10[-exp10]
    else:
        return 0.0, -1
    return (-value if neg else value), pos


@njit(nogil=True, cache=True)
def parse_atom_block(
    buf: bytes, n_lines: int
) -> tuple[int, int, np.ndarray, np.ndarray, int]:  # pragma: no cover - jitted
    """Parse ``n_lines`` atom lines ``symbol x y z [fx fy fz]`` separated by ``\\n``.

    Parameters
    ----------
    buf : bytes
        The lines joined with ``\\n`` (no trailing separator), encoded.
    n_lines : int
        Number of lines.

    Returns
    -------
    status : int
        :data:`OK`, or the reason why the block is not handled (the other outputs are then
        meaningless).
    n_cols : int
        3 (positions only) or 6 (positions and forces).
    values : float64 array (2, n_lines, 3)
        ``values[0]`` the positions, ``values[1]`` the forces (written only if
        ``n_cols == 6``); two C-contiguous halves, so neither needs a copy.
    symbols : int64 array (3 * n_lines,)
        ``symbols[:n_lines]`` the index of each line's symbol among the distinct symbols;
        ``symbols[n_lines + 2 * k : n_lines + 2 * k + 2]`` the byte range ``[start, end)``
        in ``buf`` of distinct symbol ``k`` (in order of first appearance).
    n_symbols : int
        Number of distinct symbols.
    """
    # two output arrays only: each returned array costs ~0.4 us of allocation and boxing
    values = np.empty((2, n_lines, 3))
    symbols = np.empty(3 * n_lines, np.int64)
    n = len(buf)
    pos = 0
    n_cols = -1
    n_sym = 0
    for line in range(n_lines):
        while pos < n and (buf[pos] == _SPACE or buf[pos] == _TAB):
            pos += 1
        s0 = pos
        while pos < n:
            c = buf[pos]
            if c == _SPACE or c == _TAB or c == _NL:
                break
            if c < 33 or c > 126:
                return BAD_BYTE, n_cols, values, symbols, n_sym
            pos += 1
        if pos == s0:
            return BAD_LINES, n_cols, values, symbols, n_sym
        # symbols repeat: compare with the distinct ones seen so far (a handful)
        k = 0
        while k < n_sym:
            a = symbols[n_lines + 2 * k]
            if symbols[n_lines + 2 * k + 1] - a == pos - s0:
                t = 0
                while t < pos - s0 and buf[a + t] == buf[s0 + t]:
                    t += 1
                if t == pos - s0:
                    break
            k += 1
        if k == n_sym:
            if n_sym == _MAX_SYMBOLS:
                return TOO_MANY_SYMBOLS, n_cols, values, symbols, n_sym
            symbols[n_lines + 2 * k] = s0
            symbols[n_lines + 2 * k + 1] = pos
            n_sym += 1
        symbols[line] = k
        col = 0
        while True:
            while pos < n and (buf[pos] == _SPACE or buf[pos] == _TAB):
                pos += 1
            if pos >= n or buf[pos] == _NL:
                break
            c = buf[pos]
            if c < 33 or c > 126:
                return BAD_BYTE, n_cols, values, symbols, n_sym
            if col == 6:
                return BAD_COLUMNS, n_cols, values, symbols, n_sym
            value, end = _number(buf, pos)
            if end < 0:
                return BAD_NUMBER, n_cols, values, symbols, n_sym
            values[col // 3, line, col % 3] = value
            col += 1
            pos = end
        if (col != 3 and col != 6) or (n_cols >= 0 and col != n_cols):
            return BAD_COLUMNS, n_cols, values, symbols, n_sym
        n_cols = col
        pos += 1  # the line separator
    if pos < n:
        return BAD_LINES, n_cols, values, symbols, n_sym
    return OK, n_cols, values, symbols, n_sym
