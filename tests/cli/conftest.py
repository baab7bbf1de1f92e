"""CLI test helpers: a CliRunner and a clean logging state after every test."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from anncli.log import reset_logging


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    """Run ``anncli ARGS`` in tmp_path; returns the click Result (exit_code, stdout, stderr)."""
    from anncli.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), prog_name="anncli")

    return run
