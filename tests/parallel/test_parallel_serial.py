"""anncli.parallel without MPI: the serial fallback, launcher detection, the missing-mpi4py error,
merged neighbour statistics (these run everywhere, with or without mpi4py)."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest

from anncli.exceptions import ConfigError, DataError
from anncli.parallel import mpi
from anncli.parallel.mpi import Comm, ReportedByRoot, exit_code_of
from anncli.parallel.pipeline import ordered_map
from anncli.workflows.summaries import NeighborStatistics

LAUNCHER_VARIABLES = mpi.SIZE_VARIABLES + mpi.RANK_VARIABLES + ("ANNCLI_MPI",)


@pytest.fixture
def clean_env(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    mpi._reset_world()
    yield monkeypatch
    mpi._reset_world()


@pytest.fixture
def no_mpi4py(monkeypatch):
    """Make ``import mpi4py`` fail as it does where it is not installed."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "mpi4py" or name.startswith("mpi4py."):
            raise ImportError("No module named 'mpi4py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    for name in [m for m in sys.modules if m.startswith("mpi4py")]:
        monkeypatch.delitem(sys.modules, name)


def test_serial_without_a_launcher_does_not_import_mpi4py(clean_env, no_mpi4py):
    comm = mpi.world()
    assert (comm.rank, comm.size, comm.parallel, comm.root, comm.mpi) == (0, 1, False, True, None)
    assert comm.library() == "serial"


def test_one_rank_launch_stays_serial(clean_env, no_mpi4py):
    clean_env.setenv("PMI_SIZE", "1")
    clean_env.setenv("PMI_RANK", "0")
    assert not mpi.world().parallel


def test_several_ranks_without_mpi4py_is_a_config_error_on_rank_0(clean_env, no_mpi4py):
    clean_env.setenv("OMPI_COMM_WORLD_SIZE", "4")
    clean_env.setenv("OMPI_COMM_WORLD_RANK", "0")
    with pytest.raises(ConfigError, match=r"one of 4 MPI ranks .*pip install \"anncli\[mpi\]\"") as info:
        mpi.world()
    assert info.value.exit_code == 2


def test_several_ranks_without_mpi4py_other_ranks_are_silent_with_the_same_status(clean_env, no_mpi4py):
    clean_env.setenv("PMI_SIZE", "2")
    clean_env.setenv("PMI_RANK", "1")
    with pytest.raises(ReportedByRoot) as info:
        mpi.world()
    assert info.value.exit_code == 2 and info.value.silent


def test_forced_serial(clean_env, no_mpi4py):
    clean_env.setenv("PMI_SIZE", "8")
    clean_env.setenv("ANNCLI_MPI", "0")
    assert not mpi.world().parallel


def test_serial_checkpoint_reraises_the_error_itself():
    comm = Comm(None)
    err = DataError("x.xsf: bad")
    with pytest.raises(DataError) as info:
        with comm.checkpoint():
            raise err
    assert info.value is err
    comm.sync()  # no error: nothing happens
    assert comm.bcast(5) == 5


def test_exit_codes():
    assert exit_code_of(DataError("x")) == 2
    assert exit_code_of(KeyboardInterrupt()) == 130
    assert exit_code_of(ValueError("x")) == 1


def test_serial_ordered_map_is_a_plain_loop():
    seen = []
    finals = ordered_map(Comm(None), iter(range(7)), lambda x: x * 3, lambda x, r: seen.append((x, r)),
                         final=lambda: "state")
    assert seen == [(x, 3 * x) for x in range(7)]
    assert finals == ["state"]


def test_cli_prints_nothing_for_an_error_reported_by_rank_0(monkeypatch, capsys, tmp_path):
    from anncli.cli import main

    def fail(*args, **kwargs):
        raise ReportedByRoot(2)

    monkeypatch.setattr("anncli.parallel.mpi.start_stage", fail)
    cfg = tmp_path / "g.yaml"
    cfg.write_text("output: x.h5\n")
    assert main(["generate", str(cfg)]) == 2
    assert "error" not in capsys.readouterr().err


def test_neighbour_statistics_merge_equals_one_pass():
    rng = np.random.default_rng(0)
    cutoffs = {"Cu": {"radial": 4.0, "angular": 3.0}}
    n_atoms = 30
    counts = rng.integers(0, 12, size=n_atoms)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    distances = rng.uniform(1.0, 5.0, size=offsets[-1])
    centers = np.arange(n_atoms, dtype=np.int64)
    whole = NeighborStatistics(cutoffs)
    whole.update("Cu", offsets, distances, centers)
    a, b = NeighborStatistics(cutoffs), NeighborStatistics(cutoffs)
    a.update("Cu", offsets, distances, centers[:11])
    b.update("Cu", offsets, distances, centers[11:])
    a.merge(b)
    assert a.report() == whole.report()
    assert a._sum == whole._sum and a._min == whole._min and a._max == whole._max


@pytest.mark.parametrize("affinity, local_size, expected", [
    (range(8), 4, 2),  # not bound: the node's cores shared by its ranks
    (range(2), 4, 2),  # bound by the launcher to 2 cores: those
    (range(8), 16, 1),  # more ranks than cores: one thread each
])
def test_threads_per_rank(monkeypatch, affinity, local_size, expected):
    import numba

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setattr(mpi.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(mpi.os, "sched_getaffinity", lambda pid: set(affinity), raising=False)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 8)
    chosen = []
    monkeypatch.setattr(numba, "set_num_threads", chosen.append)
    comm = Comm(None)
    comm.local_size = local_size
    n, why = comm.choose_threads()
    assert n == expected and chosen == [expected]
    assert ("bound" in why) == (len(affinity) < 8)


def test_threads_from_the_environment_are_kept(monkeypatch):
    import numba

    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    monkeypatch.setattr(numba, "set_num_threads", lambda n: pytest.fail("must not change the threads"))
    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
    assert Comm(None).choose_threads() == (3, "NUMBA_NUM_THREADS")
