"""Run the benchmarks: `python -m bench` (all) or `python -m bench b1 b4`.

Each benchmark is a module ``bench/b<N>_<name>.py`` with ``main(quick: bool) -> dict``; the dict
it returns (figures and the ratio against its target) is printed and written to
``bench/results/<id>.json`` (``b3.json``). Benchmarks use DATABASE_URL, else the embedded
PostgreSQL, and work in a database of their own (``<name>_bench``) that they create and drop.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _modules() -> list[str]:
    package = Path(__file__).resolve().parent
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(package)])
        if info.name[:1] == "b" and info.name[1:2].isdigit()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("ids", nargs="*", help="benchmark ids, e.g. b1 b4 (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    args = parser.parse_args(argv)
    wanted = [name for name in _modules() if not args.ids or name.split("_")[0] in args.ids]
    if not wanted:
        parser.error(f"no benchmark matches {args.ids}; known: {', '.join(_modules())}")
    RESULTS.mkdir(exist_ok=True)
    if len(wanted) > 1:
        # One process per benchmark: each sets Django up on a database of its own.
        failed = 0
        for name in wanted:
            command = [sys.executable, "-m", "bench", name.split("_")[0]]
            failed += (
                subprocess.run([*command, *(["--quick"] if args.quick else [])]).returncode != 0
            )
        return 1 if failed else 0
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        result = module.main(quick=args.quick)
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        (RESULTS / f"{name.split('_')[0]}.json").write_text(
            json.dumps(result, indent=2, default=str)
        )
        print(f"== {name}")
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
