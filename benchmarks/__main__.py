"""Run the benchmarks: ``python -m benchmarks [--smoke] [--only NAME] [--out FILE] [--markdown]``.

A single benchmark runs in this process. Several run one after another, each in a
fresh process of its own (``--only NAME``), so that the CPU time and peak memory each
one measures are its own. Prints one table, and writes every figure with the command
that produced it and the machine it ran on as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import importlib
import importlib.metadata
import json
import logging
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import typing

import attrs

from benchmarks._harness import ROOT, shown

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    from benchmarks._harness import Result

#: The benchmarks (modules of this package), in the order they run. Each is imported
#: only to run: *processes* imports pytest (for the tests' redis helper), which would
#: otherwise count in the peak memory of every benchmark run in this process.
BENCHMARKS = ("overhead", "polling", "callbacks", "throughput", "scale", "processes")
PACKAGES = ("sora2pro", "aiohttp", "attrs", "cattrs", "backoff")


class Warnings(logging.Handler):
    """Counts the client's warnings by event, instead of printing each one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.events: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record under its event name."""
        self.events[getattr(record, "event", record.getMessage())] += 1


def run_here(name: str, *, smoke: bool) -> dict[str, typing.Any]:
    """Run one benchmark in this process."""
    print(f"{name}: running", file=sys.stderr)
    counter = Warnings()
    logger = logging.getLogger("sora2pro")
    logger.addHandler(counter)
    logger.propagate = False
    started = time.monotonic()
    try:
        run: Callable[..., Coroutine[object, object, Result]]
        run = importlib.import_module(f"benchmarks.{name}").run
        result = asyncio.run(run(smoke=smoke))
    finally:
        logger.removeHandler(counter)
        logger.propagate = True
    seconds = time.monotonic() - started
    print(f"{name}: done in {seconds:.1f} s", file=sys.stderr)
    return {
        "seconds": seconds,
        "settings": result.settings,
        "details": result.details,
        "client_warnings": dict(counter.events),
        "figures": [attrs.asdict(figure) for figure in result.figures],
    }


def run_apart(name: str, *, smoke: bool) -> dict[str, typing.Any]:
    """Run one benchmark in a fresh process and read what it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / "results.json"
        command = [sys.executable, "-m", "benchmarks", "--only", name, "--out", str(out)]
        # Our own interpreter and arguments, no shell.
        subprocess.run(  # noqa: S603
            command + (["--smoke"] if smoke else []),
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        report: dict[str, typing.Any] = json.loads(out.read_text("utf-8"))["benchmarks"][name]
        return report


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    models = (
        [
            line.partition(":")[2].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if cpuinfo.exists()
        else []
    )
    return {
        "cores": os.cpu_count(),
        "cpu": models[0] if models else platform.processor(),
        "load_average": os.getloadavg(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": platform.platform(),
        "packages": {name: importlib.metadata.version(name) for name in PACKAGES},
    }


def table(document: dict[str, typing.Any], *, markdown: bool) -> str:
    """The figures as one table, plain or Markdown."""
    met = {True: "yes", False: "NO", None: ""}
    rows = [("benchmark", "figure", "value", "target", "met")]
    rows += [
        (
            name,
            figure["name"],
            shown(figure["value"], figure["unit"]),
            figure["target"] or "",
            met[figure["met"]],
        )
        for name, report in document["benchmarks"].items()
        for figure in report["figures"]
    ]
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|---|---|--:|---|---|")
        return "\n".join(lines)
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write the JSON; 0 whether or not targets were met."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that they run")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this one ({', '.join(BENCHMARKS)}); may repeat",
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "benchmarks" / "results.json"),
        help="where to write the JSON (default: benchmarks/results.json)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    options = parser.parse_args(arguments)
    names = list(dict.fromkeys(options.only or BENCHMARKS))
    command = shlex.join(["python", "-m", "benchmarks", *arguments])
    run = run_here if len(names) == 1 else run_apart
    measured_on = machine()  # before the run: the load average is of the machine, not of us
    reports = {name: run(name, smoke=options.smoke) for name in names}
    for name, report in reports.items():
        alone = ["python", "-m", "benchmarks", "--only", name] + ["--smoke"] * options.smoke
        report["command_alone"] = shlex.join(alone)
        for figure in report["figures"]:
            figure["command"] = command
    document = {
        "command": command,
        "smoke": options.smoke,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": measured_on,
        "benchmarks": reports,
    }
    pathlib.Path(options.out).write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    print(table(document, markdown=options.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
