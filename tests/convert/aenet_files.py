"""Writers of ænet training-set files for the tests (binary records, trnset2ASCII-like text).

They follow aenet-reference §1e and are checked against the golden generate.x file: writing the
decoded ``features.json`` back gives the same bytes (test_aenet_trainset.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def rec(payload: bytes) -> bytes:
    n = len(payload).to_bytes(4, "little", signed=True)
    return n + payload + n


def i4(*v) -> bytes:
    return np.asarray(v, dtype="<i4").tobytes()


def f8(*v) -> bytes:
    return np.asarray(v, dtype="<f8").ravel().tobytes()


def names(syms) -> bytes:
    return "".join(f"{s:<2}" for s in syms).encode()


def setup_records(s: dict) -> bytes:
    """One Setup block from a features.json footer entry."""
    nsf = s["nsf"]
    sfparam = np.asarray(s["sfparam"], dtype=float).reshape(nsf, s["nsfparam"])
    sfenv = np.asarray(s["sfenv"], dtype=np.int32).reshape(nsf, 2)
    # features.json strips the description; the .stp files indent it by two blanks
    out = [rec(f"  {s['description']:<1022}".encode()[:1024]), rec(f"{s['atomtype']:<2}".encode()),
           rec(i4(s["nenv"])), rec(names(s["envtypes"])), rec(f8(s["Rc_min"])), rec(f8(s["Rc_max"])),
           rec(f"{s['sftype']:<100}".encode()), rec(i4(nsf)), rec(i4(s["nsfparam"])), rec(i4(*s["sf"])),
           rec(sfparam.astype("<f8").tobytes()), rec(sfenv.astype("<i4").tobytes()), rec(i4(s["neval"]))]
    out += [rec(f8(*s[k])) for k in ("sfval_min", "sfval_max", "sfval_avg", "sfval_cov")]
    return b"".join(out)


def write_binary(d: dict, path: Path) -> Path:
    """Write a features.json-like dict as generate.x's binary training set."""
    h = d["header"]
    out = [rec(i4(h["nTypes"])), rec(i4(len(d["structures"]))), rec(names(h["typeName"])),
           rec(f8(*h["E_atom"])), rec(i4(int(h["normalized"]))), rec(f8(h["scale"])), rec(f8(h["shift"]))]
    for s in d["structures"]:
        p = s["file"].encode()
        out += [rec(i4(len(p))), rec(p), rec(i4(len(s["atoms"]), s["nTypes"])), rec(f8(s["energy"]))]
        for a in s["atoms"]:
            out += [rec(i4(a["itype"])), rec(f8(*a["coo"])), rec(f8(*a["force"])),
                    rec(i4(len(a["sfval"]))), rec(f8(*a["sfval"]))]
    ft = d["footer"]
    out += [rec(i4(ft["nAtomsTot"])), rec(f8(ft["E_av"], ft["E_min"], ft["E_max"])),
            rec(i4(int(ft["has_setups"])))]
    if ft["has_setups"]:
        for k, sym in enumerate(h["typeName"]):
            out += [rec(i4(k + 1)), setup_records(ft["setups"][sym])]
    path.write_bytes(b"".join(out))
    return path


def load_json(golden: Path) -> dict:
    return json.loads((golden / "trainset" / "features.json").read_text())
