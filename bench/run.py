"""Run every benchmark side by side and write docs/benchmarks.md (``make bench``).

Each ``bench/bench_*.py`` module exposes ``run() -> str`` returning a markdown section; this
script runs them in one process, one after another, so figures within a section are measured
side by side in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OUTPUT = REPO / "docs" / "benchmarks.md"


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


_SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<text>.*?)<!-- /bench:(?P=name) -->", re.S)


def _read_sections(output: Path) -> dict[str, str]:
    """The sections an earlier run wrote, by benchmark name, so a partial run keeps the rest."""
    if not output.exists():
        return {}
    return {m["name"]: m["text"] for m in _SECTION.finditer(output.read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark names (e.g. packaging local); default: all")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH_DIR))
    paths = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.names:
        paths = [p for p in paths if p.stem.removeprefix("bench_") in args.names]
    output = Path(args.output)
    sections = _read_sections(output)
    for path in paths:
        name = path.stem.removeprefix("bench_")
        started = time.perf_counter()
        print(f"running {path.name} ...", flush=True)
        section = _load(path).run()  # type: ignore[attr-defined]
        print(section, flush=True)
        sections[name] = f"{section.rstrip()}\n\n_{path.name} took {time.perf_counter() - started:.0f} s._\n"
    header = (
        "# Benchmarks\n\n"
        "Produced by `make bench` (which runs `.venv/bin/python bench/run.py`); `bench/run.py NAME ...` "
        "re-measures only those sections and keeps the others. Figures compared with each other were "
        "measured side by side in one run of their section. Medians unless said otherwise; machines are "
        "noisy, so read the ratios.\n\n"
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()}\n"
        f"- last run: {time.strftime('%Y-%m-%d', time.gmtime())}\n\n"
    )
    body = "\n".join(f"<!-- bench:{name} -->\n{text.rstrip()}\n<!-- /bench:{name} -->\n"
                      for name, text in sorted(sections.items()))
    output.write_text(header + body)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
