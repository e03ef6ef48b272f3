"""Run every benchmark (benches/bench_*.py) and report: a table, plus JSON for the record.

    python benches/run.py [--quick] [--only NAME ...] [--json FILE]

Each module defines ``BENCHMARKS``, a list of ``_harness.Benchmark``. Results go to
stdout as a table and to ``benches/results/latest.json`` (machine, Python, every row).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _harness import Row  # noqa: E402


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names to run")
    parser.add_argument("--json", default=str(HERE / "results" / "latest.json"))
    args = parser.parse_args(argv)

    results: list[tuple[str, Row]] = []
    for path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(path.stem)
        for bench in module.BENCHMARKS:
            if args.only and bench.name not in args.only:
                continue
            t0 = time.perf_counter()
            rows = bench.run(args.quick)
            print(f"[{bench.name}] {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            results += [(bench.name, r) for r in rows]

    header = [
        "benchmark",
        "buildsig",
        "unit",
        "peer",
        "peer value",
        "ratio",
        "target",
        "met",
        "note",
    ]
    lines = [header]
    for _, r in results:
        met = "-" if r.target_met is None else ("yes" if r.target_met else "NO")
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(
            [
                r.name,
                fmt(r.value),
                r.unit,
                r.peer or "-",
                fmt(r.peer_value),
                ratio,
                r.target or "-",
                met,
                r.note,
            ]
        )
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    for i, row in enumerate(lines):
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))

    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "results": [{"benchmark": b, **vars(r), "ratio": r.ratio} for b, r in results],
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {out}", file=sys.stderr)
    failed = [r for _, r in results if r.target_met is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
