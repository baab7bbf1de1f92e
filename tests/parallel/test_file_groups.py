"""Groups of consecutive files that MPI ranks read themselves (anncli.parallel.files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anncli.parallel.files import MIN_FILES_PER_RANK, file_groups, group_files


@pytest.mark.parametrize("sizes, n_ranks, per_group", [
    ([100] * 1000, 2, 2_000),  # TiO2-1000-like: 20 files a group by bytes
    ([100] * 1000, 2, 1e9),  # huge batches: still 16 groups
    ([5, 500, 5, 5, 5000, 1, 1, 1, 1], 3, 600),  # uneven files
    ([7], 1, 1e9),
])
def test_file_groups_cover_every_file_once_in_order(sizes, n_ranks, per_group):
    groups = file_groups(sizes, n_ranks, per_group)
    assert [g.start for g in groups] == [0] + [g.stop for g in groups[:-1]]
    assert groups[-1].stop == len(sizes) and all(g.stop > g.start for g in groups)
    target = min(per_group, sum(sizes) / (8 * n_ranks))
    # every group but the last reaches the target, and would not without its last file
    for g in groups[:-1]:
        assert sum(sizes[g.start:g.stop]) >= target > sum(sizes[g.start:g.stop - 1])
    if sizes == [100] * 1000:
        assert len(groups) == (50 if per_group == 2_000 else 16)  # else: at least 8 groups a rank



def test_group_files_leaves_few_files_to_rank_0_and_sizes_groups_by_the_first_file(tmp_path):
    files = []
    for k in range(40):
        files.append(tmp_path / f"f{k:02d}.txt")
        files[-1].write_text("x" * (100 + 10 * k))
    counted: list[Path] = []

    def count_atoms(path: Path) -> int:
        counted.append(path)
        return 10  # 10 bytes per atom in the first file

    assert group_files(files, 1, 20, count_atoms) is None  # serial
    assert group_files(files[:2 * MIN_FILES_PER_RANK - 1], 2, 20, count_atoms) is None
    assert counted == []  # nothing read to decide that
    groups = group_files(files, 2, 20, count_atoms)  # 20 atoms: 200 bytes a group
    assert counted == [files[0]]
    assert groups == file_groups([f.stat().st_size for f in files], 2, 200.0)
    assert 16 <= len(groups) < 40
    assert group_files(files, 2, 9, count_atoms) is None  # the first file holds more than a batch
