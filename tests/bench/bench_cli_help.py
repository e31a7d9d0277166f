"""Benchmark: how long ``comicdesk --help`` (and a usage error) takes, start to exit.

    .venv/bin/python tests/bench/bench_cli_help.py [--repeat 10]

Runs ``python -m comicdesk --help``, ``python -m comicdesk scan --help`` and ``python -m
comicdesk --cache-dir X`` with a bad option (argument parsing only) as fresh processes, ``--repeat``
times each, and reports the median and worst wall time, beside a bare ``python -c pass`` for the
interpreter's own start-up. Help must stay quick because it imports nothing heavy (Pillow, NumPy,
PyMuPDF, torch, PySide6: tests/test_cli.py checks that). Prints a table and one JSON line
(``{"bench": "cli_help", ...}``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CASES = {
    "python_startup": [sys.executable, "-c", "pass"],
    "help": [sys.executable, "-m", "comicdesk", "--help"],
    "scan_help": [sys.executable, "-m", "comicdesk", "scan", "--help"],
    "usage_error": [sys.executable, "-m", "comicdesk", "--cache-dir", "/nonexistent", "scan", "--no-such-option"],
}


def time_case(argv: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    opts = ap.parse_args()
    figures: dict[str, float | int | str] = {"bench": "cli_help", "repeat": opts.repeat}
    print(f"{'case':<16} {'median ms':>10} {'worst ms':>10}")
    for name, argv in CASES.items():
        times = time_case(argv, opts.repeat)
        median, worst = statistics.median(times) * 1000, max(times) * 1000
        figures[f"{name}_median_ms"] = round(median, 1)
        figures[f"{name}_worst_ms"] = round(worst, 1)
        print(f"{name:<16} {median:>10.1f} {worst:>10.1f}")
    figures["help_over_startup_ms"] = round(figures["help_median_ms"] - figures["python_startup_median_ms"], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
