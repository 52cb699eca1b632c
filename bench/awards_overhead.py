"""What deriving entitlements costs the transition path: ``bench/api_load.py``'s API load, alternating firms in a
county the policy packs cover (entitlements derived on every recognition) with firms in one no pack covers.

Issue 14's bar: with packs, no more than 10 % slower — the median of five alternating runs each way. Every run
gets a fresh database and server (as ``api_load.py`` does), so neither side inherits the other's tables. Only
the API side runs (no pgbench). Prints each run, both medians and the ratio.

    .venv/bin/python bench/awards_overhead.py                         # 5 + 5 runs of 20 s, 410106 vs 410302
    .venv/bin/python bench/awards_overhead.py --runs 3 --seconds 10

The machine must be otherwise idle (``uptime`` load well under the core count) for the ratio to mean anything.
"""

from __future__ import annotations

import argparse
import os
import statistics

import api_load  # bench/ is the script's directory, so it is on sys.path


def one_run(region: str, index: int, clients: int, seconds: float, workers: int) -> float:
    api_load.REGION = os.environ["PIPELINE_BENCH_REGION"] = region  # client processes read it too
    name = f"pipeline_awards_bench_{os.getpid()}_{index}"
    url = api_load.create_database(name)
    try:
        token = api_load.prepare(url)
        result = api_load.run_api_load(url, token, clients, seconds, workers, 1)
    finally:
        api_load.drop_database(name)
    print(f"run {index + 1:2d}: firms in {region}: {result['rate']:8.1f} transitions/s "
          f"(p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms)", flush=True)
    return float(result["rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs each way (alternating)")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--with-packs", default="410106", help="a county the packs cover (上街区: Zhengzhou, Shangjie)")
    parser.add_argument("--without-packs", default="410302", help="a county no pack covers (洛阳市老城区)")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {args.with_packs: [], args.without_packs: []}
    for index in range(2 * args.runs):
        region = (args.without_packs, args.with_packs)[index % 2]
        rates[region].append(one_run(region, index, args.clients, args.seconds, args.workers))
    with_packs = statistics.median(rates[args.with_packs])
    without = statistics.median(rates[args.without_packs])
    slowdown = 1 - with_packs / without
    verdict = "within" if slowdown <= 0.10 else "OVER"
    print(f"median with packs ({args.with_packs}): {with_packs:.1f}/s; without ({args.without_packs}): "
          f"{without:.1f}/s; ratio {with_packs / without:.3f} — slowdown {slowdown:.1%} ({verdict} the 10 % bar)")


if __name__ == "__main__":
    main()
