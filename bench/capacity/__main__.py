"""``python -m bench.capacity record`` re-records demand.json on the local stack;
``python -m bench.capacity model [--rate 1000] [--one-sku 5000 --shards N]`` prints the model from it."""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record each scenario's demand per order on the local stack")
    rec.add_argument("--orders", type=int, default=3, help="orders per scenario")
    rec.add_argument("--scenario", action="append", help="only these scenarios (repeatable)")
    rec.add_argument("--out", type=Path, default=HERE / "demand.json")
    rec.add_argument("--tighten", action="store_true",
                     help="replace expectations.json with this recording (default: keep the most seen per figure)")
    mod = commands.add_parser("model", help="demand against AWS's quotas, from the recorded demand")
    mod.add_argument("--demand", type=Path, default=HERE / "demand.json")
    mod.add_argument("--rate", type=float, default=1000.0, help="steady orders/s over many SKUs")
    mod.add_argument("--one-sku", type=float, default=5000.0, help="orders/s of a step on one SKU")
    mod.add_argument("--shards", type=int, default=1, help="stock shards of that SKU (per warehouse)")
    mod.add_argument("--hot-sku-share", type=float, default=0.01,
                     help="the steady load's hottest SKU: its share of orders")
    mod.add_argument("--lambda-ms", type=float, default=100.0,
                     help="milliseconds per Lambda invocation on AWS (0 = the durations measured locally)")
    mod.add_argument("--rows", type=int, help="print only the components with the least headroom")
    args = parser.parse_args(argv)
    if args.command == "record":
        from bench.capacity.record import SCENARIOS, record

        record(args.orders, tuple(args.scenario or SCENARIOS), args.out,
               HERE / "expectations.json" if args.out == HERE / "demand.json" else None, tighten=args.tighten)
        print(f"wrote {args.out}")
        return 0
    from bench.capacity.model import main as model_main

    return model_main(args.demand, args.rate, args.one_sku, args.shards, args.hot_sku_share, args.lambda_ms or None,
                      args.rows)


if __name__ == "__main__":
    raise SystemExit(main())
