"""The slow paths at province scale in one run, each figure beside its limit (issue 18), with the load.

    .venv/bin/python bench/scale.py                      # full scale: 10 M events, 1 M titles, 100,000 firms
    .venv/bin/python bench/scale.py --reuse-audit        # keep an already generated audit_bench database
    .venv/bin/python bench/scale.py --fraction 0.1       # a tenth of every scale (figures then say so)

Runs bench/audit_scale.py (verification and roster only), bench/sweep.py, bench/eligibility.py and
bench/candidates.py one after the other, shows their output, and ends with one table: what was measured, at what
scale, the figure, the limit, and ``uptime``'s load average when it was taken. The machine is shared: a figure
taken under load says so beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (name, script, arguments at full scale, the line pattern holding the figure, limit)
PATHS = [
    ("chain verification", "audit_scale.py", ["--only", "verify"],
     r"verification .*?: (?P<count>[\d,]+ events) .*? in (?P<seconds>[\d.]+) s", "10 M events ≤ 120 s"),
    ("whole-province roster", "audit_scale.py", ["--only", "roster"],
     r"roster of the whole province .*?: (?P<count>\d+ firms) .*?, (?P<seconds>[\d.]+) s",
     "≤ 1 s (bar 2 s) at 1 M firms"),
    ("expiry sweep", "sweep.py", [],
     r"elapsed (?P<seconds>[\d.]+)s — .*? over all (?P<count>[\d,]+ titles)", "≤ 10 s (bar 20 s) for 1 M titles"),
    ("eligibility scoring", "eligibility.py", [],
     r"(?P<count>\d+ firms) in (?P<seconds>[\d.]+) s", "≤ 1 s for 100,000 firms"),
    ("candidate list (PostgreSQL)", "candidates.py", ["--repeat", "1"],
     r"judged (?P<count>[\d,]+ firms).* in (?P<seconds>[\d.]+) s", "≤ 2 s for 100,000 firms"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=1.0, help="scale every path down by this factor")
    parser.add_argument("--reuse-audit", action="store_true", help="audit_scale.py --reuse (skip generating)")
    parser.add_argument("--skip", action="append", default=[], help="a path to leave out (its script's name)")
    args = parser.parse_args()
    scale = {"audit_scale.py": ["--firms", str(int(1_000_000 * args.fraction))],
             "sweep.py": ["--titles", str(int(1_000_000 * args.fraction))],
             "eligibility.py": ["--firms", str(int(100_000 * args.fraction))],
             "candidates.py": ["--firms", str(int(100_000 * args.fraction))]}
    generated = args.reuse_audit
    rows = []
    for name, script, extra, pattern, limit in PATHS:
        if script in args.skip:
            continue
        command = [sys.executable, str(HERE / script), *scale[script], *extra]
        if script == "audit_scale.py":
            if generated:
                command.append("--reuse")
            generated = True
        print(f"\n$ {' '.join(command[1:])}   (load {os.getloadavg()[0]:.2f})", flush=True)
        before = os.getloadavg()[0]
        out = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
        print(out.stdout, end="")
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            rows.append((name, "failed", "", limit, f"{before:.2f}"))
            continue
        found = re.search(pattern, out.stdout)
        figure = f"{found['count']} in {found['seconds']} s" if found else "not found in the output"
        rows.append((name, figure, " ".join(command[2:]), limit, f"{before:.2f} → {os.getloadavg()[0]:.2f}"))
    print("\npath | measured | arguments | limit | load (1 min) before → after")
    for row in rows:
        print(" | ".join(row))


if __name__ == "__main__":
    main()
