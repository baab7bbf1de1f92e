"""Finding the external fix in LAMMPS input scripts (no LAMMPS needed)."""

from __future__ import annotations

import pytest

from anncli.exceptions import ConfigError
from anncli.lammps.script import split_script


def test_pieces_end_after_each_external_fix_and_cover_the_script():
    text = ("units metal\n"
            "fix nve all nve   # not this one\n"
            "fix ann all &\n"
            "    external pf/callback 1 1\n"
            "run 10\n"
            'print """\n'
            "fix fake all external pf/callback 1 1\n"
            '"""\n'
            "# fix commented all external pf/callback 1 1\n"
            "unfix ann\n"
            "fix   ann2 all external pf/callback 1 1 # again\n")
    pieces = split_script(text, "in.x")
    assert "".join(p.text for p in pieces) == text
    assert [p.fix.fix_id if p.fix else None for p in pieces] == ["ann", "ann2"]
    assert [p.fix.line for p in pieces] == [3, 11]
    assert [p.first_line for p in pieces] == [1, 5]
    assert pieces[0].text.endswith("external pf/callback 1 1\n")


def test_trailing_commands_form_a_last_piece():
    pieces = split_script("fix a all external pf/callback 1 1\nrun 0", "in.x")
    assert [p.fix is not None for p in pieces] == [True, False]
    assert pieces[1].text == "run 0\n" and pieces[1].first_line == 2


@pytest.mark.parametrize("text, words", [
    ("units metal\nrun 0\n", ["in.x:", "no 'fix ID all external pf/callback 1 1'"]),
    ("fix a all external pf/array 1\n", ["in.x line 1", "pf/callback", "pf/array"]),
    ("\nfix a mobile external pf/callback 1 1\n", ["in.x line 2", "group 'all'", "'mobile'", "fix setforce"]),
    ("fix a all external pf/callback x 1\n", ["in.x line 1", "integers", "'x'"]),
    ("fix a all external pf/callback 0 1\n", ["in.x line 1", ">= 1"]),
])
def test_unusable_scripts(text, words):
    with pytest.raises(ConfigError) as err:
        split_script(text, "in.x")
    for w in words:
        assert w in str(err.value)


def test_calling_every_few_steps_warns(caplog):
    split_script("fix a all external pf/callback 5 1\n", "in.x")
    assert "every 5 steps" in caplog.text
