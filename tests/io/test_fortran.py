"""The one Fortran-number parser of the ænet readers (XSF, .stp, generate.in)."""

from __future__ import annotations

import math

import pytest

from anncli.io import aenet_inputs, xsf
from anncli.io.fortran import fortran_float


@pytest.mark.parametrize("token,value", [
    ("0.75d0", 0.75), ("-1.5D+01", -15.0), (".5d-2", 0.005), ("3D2", 300.0), ("1e3", 1000.0),
    ("-0.0", -0.0), ("  2.5  ", 2.5), ("6.02214076d23", 6.02214076e23),
])
def test_fortran_exponents_read_as_e(token, value):
    got = fortran_float(token)
    assert got == value and math.copysign(1.0, got) == math.copysign(1.0, value)


@pytest.mark.parametrize("token", ["abc", "1.2.3", "d0", "1d", "", "0x10", "1e5d0"])
def test_not_a_number_raises_value_error(token):
    with pytest.raises(ValueError):
        fortran_float(token)


def test_both_readers_use_it():
    """XSF and the keyword files read numbers the same way (one parser, not two)."""
    assert xsf._float is fortran_float and aenet_inputs.fortran_float is fortran_float
