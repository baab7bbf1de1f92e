"""Multi-frame files are read frame by frame: memory is bounded by the batch, not by the file."""

from __future__ import annotations

import textwrap

import ase
import h5py
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from anncli.cli import main
from anncli.config.generate import load_generate_config
from anncli.exceptions import DataError
from anncli.io import iter_structures, read_structures
from anncli.structure import Structure
from anncli.workflows import generate as gen

N_FRAMES = 120


def _frames(n=N_FRAMES, seed=0):
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * 3.8
    images = []
    for k in range(n):
        atoms = Atoms(["Cu", "Au", "Cu", "Au"], positions=base + rng.normal(scale=0.05, size=(4, 3)),
                      cell=np.eye(3) * 3.8, pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - k, free_energy=-10.5 - k,
                                           forces=rng.normal(size=(4, 3)))
        images.append(atoms)
    return images


@pytest.fixture
def many(tmp_path):
    path = tmp_path / "many.extxyz"
    write(path, _frames())
    return path


@pytest.fixture
def count_atoms(monkeypatch):
    """Counts every ase.Atoms built (ASE's readers build one per frame they parse)."""
    calls = [0]
    init = Atoms.__init__

    def counting(self, *args, **kwargs):
        calls[0] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(Atoms, "__init__", counting)
    return calls


def test_first_frame_before_the_others_are_parsed(many, count_atoms):
    frames = iter_structures(many)
    first = next(frames)
    assert (first.frame, first.energy) == (0, -10.5)
    assert count_atoms[0] <= 2  # not N_FRAMES: the rest of the file is not parsed yet
    rest = list(frames)
    assert [s.frame for s in rest] == list(range(1, N_FRAMES))
    assert count_atoms[0] >= N_FRAMES


@pytest.mark.parametrize("index, frames", [
    (":", list(range(N_FRAMES))), ("3:11:4", [3, 7]), (5, [5]), ("110:", list(range(110, N_FRAMES))),
    (slice(None, 4), [0, 1, 2, 3]), ("-2:", [N_FRAMES - 2, N_FRAMES - 1]), ("-1", [N_FRAMES - 1]),
])
def test_frame_numbers_and_labels(many, index, frames):
    got = list(iter_structures(many, index=index))
    assert [s.frame for s in got] == frames
    assert [s.energy for s in got] == [-10.5 - k for k in frames]
    assert [s.label for s in got] == [str(many) if k == 0 else f"{many}@{k}" for k in frames]


def test_frame_out_of_range(many):
    with pytest.raises(DataError, match=rf"{many.name}: frame {N_FRAMES} requested"):
        list(iter_structures(many, index=N_FRAMES))


def test_reader_errors_name_the_frame(many):
    lines = many.read_text().splitlines(keepends=True)
    per_frame = 2 + 4
    bad = 6 * per_frame + 3  # frame 6, second atom line
    lines[bad] = lines[bad].replace(lines[bad].split()[2], "abc", 1)
    many.write_text("".join(lines))
    seen = []
    with pytest.raises(DataError) as info:
        for s in iter_structures(many):
            seen.append(s.frame)
    assert seen == list(range(6))
    assert str(info.value).startswith(f"could not read {many}@6 as extxyz:")


def test_truncated_last_frame(many):
    text = many.read_text()
    many.write_text(text[: text.rstrip().rfind("\n")])  # drops the last atom line
    with pytest.raises(DataError, match=rf"could not read {many}@{N_FRAMES - 1} as extxyz"):
        read_structures(many)


def test_check_errors_name_file_and_frame(tmp_path):
    images = _frames(5)
    images[3].positions[1, 0] = np.nan
    write(tmp_path / "nan.extxyz", images)
    with pytest.raises(DataError, match=r"nan\.extxyz \(frame 3\): atom 2 \(Au\) has a non-finite position"):
        list(iter_structures(tmp_path / "nan.extxyz"))


def test_empty_selection_and_empty_file(many, tmp_path):
    assert list(iter_structures(many, index="500:")) == []
    (tmp_path / "blank.extxyz").write_text("\n\n")
    with pytest.raises(DataError, match="holds no structure"):
        list(iter_structures(tmp_path / "blank.extxyz"))


def test_generate_reads_only_a_few_batches_ahead(many, tmp_path, monkeypatch):
    """When the first batch is featurised the reader has parsed at most the batches the queue holds."""
    atoms_per_frame, frames_per_batch = 4, 2
    monkeypatch.setattr(gen, "BATCH_ATOMS", atoms_per_frame * frames_per_batch)
    converted = [0]
    from_ase = Structure.from_ase.__func__

    def counting(cls, *args, **kwargs):
        converted[0] += 1
        return from_ase(cls, *args, **kwargs)

    monkeypatch.setattr(Structure, "from_ase", classmethod(counting))
    at_first_batch = []
    featurize = gen._featurize

    def recording(*args, **kwargs):
        if not at_first_batch:
            at_first_batch.append(converted[0])
        return featurize(*args, **kwargs)

    monkeypatch.setattr(gen, "_featurize", recording)
    config = tmp_path / "gen.yaml"
    config.write_text(textwrap.dedent("""\
        structures: [many.extxyz]
        output: out.h5
        reference_energies: {Cu: -1.0, Au: -2.0}
        descriptors:
          default: {type: chebyshev, radial: {cutoff: 3.0, order: 2}, angular: {cutoff: 2.8, order: 1}}
        """))
    result = gen.run(load_generate_config(config), config_path=config)
    assert result.n_structures == N_FRAMES and converted[0] == N_FRAMES
    # the batch being featurised + 2 queued + 1 finished one waiting to be queued
    assert at_first_batch[0] <= 4 * frames_per_batch
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_array_equal(f["structures/frame"][()], np.arange(N_FRAMES))
        np.testing.assert_array_equal(f["structures/energy"][()], -10.5 - np.arange(N_FRAMES))
        assert set(f["structures/source"].asstr()[()]) == {str(many)}


def test_generate_reports_the_bad_frame(many, tmp_path, capsys):
    images = _frames()
    images[77].positions[2] = images[77].positions[0] + [0.01, 0, 0]
    write(many, images)
    config = tmp_path / "gen.yaml"
    config.write_text("structures: [many.extxyz]\noutput: out.h5\nreference_energies: {Cu: -1.0, Au: -2.0}\n"
                      "descriptors:\n  default: {type: chebyshev, radial: {cutoff: 3.0, order: 2}, "
                      "angular: {cutoff: 2.8, order: 1}}\n")
    assert main(["generate", str(config)]) == 2
    err = capsys.readouterr().err
    assert "many.extxyz (frame 77): atoms 1 (Cu) and 3" in err and "Traceback" not in err


@pytest.mark.skipif(not (p := __import__("pathlib").Path(ase.__file__).parent / "test" / "testdata" / "vasp"
                         / "OUTCAR_example_1").is_file(), reason="ASE's test data (OUTCAR_example_1) is not installed")
def test_outcar_frames_through_the_chunk_iterator():
    outcar = __import__("pathlib").Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "OUTCAR_example_1"
    (s,) = iter_structures(outcar, format="vasp-out")
    ref = ase.io.read(outcar, format="vasp-out", index=-1)
    np.testing.assert_array_equal(s.positions, ref.positions)
    np.testing.assert_array_equal(s.forces, ref.get_forces())
    assert (s.frame, s.label) == (0, str(outcar))
    assert list(iter_structures(outcar, format="vasp-out", index="1:")) == []
