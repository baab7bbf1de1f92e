"""expand_sources: files, directories, globs, list files, natural order, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from anncli.exceptions import DataError
from anncli.io.sources import expand_sources, is_structure_file, natural_key


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    for k in (1, 2, 10, 11, 100):
        (d / f"structure{k}.xsf").write_text("x")
    for name in ("OUTCAR", "OUTCAR.3", "vasprun.xml.bz2", "notes.txt", "README.md", "run.sh", "md.extxyz.gz"):
        (d / name).write_text("x")
    (d / "sub").mkdir()
    (d / "sub" / "deep.xsf").write_text("x")
    return tmp_path


def _names(paths):
    return [p.name for p in paths]


def test_directory_natural_order_and_filter(tree):
    files = expand_sources(["data"], tree)
    assert _names(files) == [
        "OUTCAR", "OUTCAR.3", "md.extxyz.gz", "structure1.xsf", "structure2.xsf", "structure10.xsf",
        "structure11.xsf", "structure100.xsf", "vasprun.xml.bz2",
    ]
    assert all(p.is_file() for p in files)


def test_glob_natural_order(tree):
    files = expand_sources(["data/structure*.xsf"], tree)
    assert _names(files) == ["structure1.xsf", "structure2.xsf", "structure10.xsf", "structure11.xsf",
                             "structure100.xsf"]
    assert _names(expand_sources(["data/**/*.xsf"], tree))[-1] == "deep.xsf"


def test_single_file_absolute_and_relative(tree):
    rel = expand_sources(["data/structure2.xsf"], tree)
    ab = expand_sources([str(tree / "data" / "structure2.xsf")], Path("/nonexistent"))
    assert rel == ab == [tree / "data" / "structure2.xsf"]


@pytest.mark.parametrize("style", ["at", "list"])
def test_list_file(tree, style):
    lists = tree / "lists"
    lists.mkdir()
    name = "files.txt" if style == "at" else "files.list"
    (lists / name).write_text(
        "# training structures\n"
        "../data/structure10.xsf\n"
        "\n"
        "../data/structure2.xsf   # trailing comment\n"
        "../data/sub\n"
    )
    entry = f"@lists/{name}" if style == "at" else f"lists/{name}"
    files = expand_sources([entry], tree)
    assert _names(files) == ["structure10.xsf", "structure2.xsf", "deep.xsf"]


def test_duplicates_removed_keep_first(tree):
    files = expand_sources(["data/structure2.xsf", "data/structure*.xsf", "./data/../data/structure1.xsf"], tree)
    assert _names(files) == ["structure2.xsf", "structure1.xsf", "structure10.xsf", "structure11.xsf",
                             "structure100.xsf"]
    assert expand_sources(["./data/../data/structure1.xsf"], tree) == [tree / "data" / "structure1.xsf"]


def test_missing_entries(tree):
    with pytest.raises(DataError, match="'data/nothing.xsf' matches no file"):
        expand_sources(["data/structure1.xsf", "data/nothing.xsf"], tree)
    with pytest.raises(DataError, match="'data/\\*.cif' matches no file"):
        expand_sources(["data/*.cif"], tree)
    with pytest.raises(DataError, match="list file '@missing.txt' not found"):
        expand_sources(["@missing.txt"], tree)
    (tree / "bad.list").write_text("data/structure1.xsf\ndata/gone.xsf\n")
    with pytest.raises(DataError, match=r"bad\.list: entry 'data/gone.xsf' matches no file"):
        expand_sources(["bad.list"], tree)
    (tree / "empty").mkdir()
    with pytest.raises(DataError, match="holds no structure files"):
        expand_sources(["empty"], tree)


def test_self_including_list(tree):
    (tree / "loop.list").write_text("@loop.list\n")
    with pytest.raises(DataError, match="includes itself"):
        expand_sources(["loop.list"], tree)


def test_helpers():
    assert sorted(["s10", "s2", "s1", "a"], key=natural_key) == ["a", "s1", "s2", "s10"]
    assert is_structure_file(Path("CONTCAR_5")) and is_structure_file(Path("x.pwo"))
    assert is_structure_file(Path("vasprun.xml.gz")) and not is_structure_file(Path("notes.txt"))
