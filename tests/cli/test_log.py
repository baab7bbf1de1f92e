"""Logging set-up and progress reporting."""

from __future__ import annotations

import logging
import re

import pytest

from anncli.log import VERBOSE, Progress, format_duration, setup_logging


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    "verbosity, shown",
    [(-1, {"warning", "error"}), (0, {"info", "warning", "error"}), (1, {"verbose", "info", "warning", "error"}),
     (2, {"debug", "verbose", "info", "warning", "error"})],
)
def test_verbosity_levels(capsys, verbosity, shown):
    setup_logging(verbosity)
    log = logging.getLogger("anncli.test")
    log.debug("debug")
    log.log(VERBOSE, "verbose")
    log.info("info")
    log.warning("warning")
    log.error("error")
    err = capsys.readouterr().err
    for word in ("debug", "verbose", "info", "warning", "error"):
        assert (f"{word}\n" in err) == (word in shown), (word, err)


def test_format_plain_on_stderr(capsys):
    setup_logging(0)
    logging.getLogger("anncli.x").info("generate: 3 files")
    logging.getLogger("anncli.x").warning("left out 2 structures")
    err = capsys.readouterr().err.splitlines()
    # captured stderr is not a terminal: timestamps for batch logs
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d anncli: generate: 3 files", err[0])
    assert err[1].endswith("anncli: warning: left out 2 structures")


def test_setup_twice_does_not_duplicate_lines(capsys):
    setup_logging(0)
    setup_logging(0)
    logging.getLogger("anncli").info("once")
    assert capsys.readouterr().err.count("once") == 1


def test_progress_plain_lines_when_not_a_tty(capsys):
    setup_logging(0)
    clock = FakeClock()
    with Progress(1000, "generate", "structures", rate_unit="atoms", interval=0, tty=False, clock=clock) as p:
        for _ in range(2):
            clock.t += 1.0
            p.update(250, work=2300)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3  # two periodic lines (interval 0) and the final one
    assert lines[0].endswith("anncli: generate: 250/1,000 structures (25 %), 2,300 atoms/s, ETA 3 s")
    assert lines[1].endswith("anncli: generate: 500/1,000 structures (50 %), 2,300 atoms/s, ETA 2 s")
    assert lines[2].endswith("anncli: generate: 500/1,000 structures (50 %), 2,300 atoms/s, 2 s")


def test_progress_interval_limits_lines(capsys):
    setup_logging(0)
    clock = FakeClock()
    with Progress(100, "train", "epochs", interval=10.0, tty=False, clock=clock) as p:
        for _ in range(100):
            clock.t += 1.0
            p.update(1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 100 // 10 + 1
    assert lines[-1].endswith("train: 100/100 epochs (100 %), 1.00 epochs/s, 1 min 40 s")


def test_progress_silent_when_quiet(capsys):
    setup_logging(-1)
    with Progress(10, "generate", "files", interval=0, tty=False) as p:
        p.update(10)
    with Progress(10, "generate", "files", tty=True) as p:
        p.update(10)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal(capsys):
    setup_logging(0)
    clock = FakeClock()
    with Progress(4, "generate", "files", tty=True, clock=clock) as p:
        for _ in range(4):
            clock.t += 0.5
            p.update(1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.count("\r") >= 4
    assert "[########################] generate: 4/4 files (100 %), 2.00 files/s, 2 s" in err


@pytest.mark.parametrize("seconds, text", [(0.42, "0.4 s"), (3.4, "3 s"), (42, "42 s"), (125, "2 min 05 s"), (3725, "1 h 02 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
