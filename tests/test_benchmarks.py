"""The benchmarks run end to end with tiny sizes, so that they cannot rot.

Only that they run and report: their figures are never checked against targets here.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from benchmarks.__main__ import BENCHMARKS, main, table


def children() -> set[int]:
    """The processes whose parent is this one (from /proc; none where there is no /proc)."""
    found = set()
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces: the parent's id follows it.
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
        if parent == os.getpid():
            found.add(int(stat.parent.name))
    return found


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_each_benchmark_runs_with_tiny_sizes(
    name: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A smoke run prints and writes every figure with its command, and ends its processes."""
    before = children()
    out = tmp_path / "results.json"
    assert 0 == main(["--smoke", "--only", name, "--out", str(out)])
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text("utf-8"))["benchmarks"][name]["figures"]
    assert figures
    for figure in figures:
        assert isinstance(figure["value"], int | float)
        assert f"python -m benchmarks --smoke --only {name} --out {out}" == figure["command"]
        assert figure["name"] in printed
    assert set() == children() - before


def test_the_table_can_be_markdown() -> None:
    """--markdown prints the same rows as a Markdown table, unmet targets in capitals."""
    figure = {"name": "peak memory", "value": 250.0, "unit": "MB", "target": "< 200", "met": False}
    document = {"benchmarks": {"scale": {"figures": [figure]}}}
    assert [
        "| benchmark | figure | value | target | met |",
        "|---|---|--:|---|---|",
        "| scale | peak memory | 250 MB | < 200 | NO |",
    ] == table(document, markdown=True).splitlines()
