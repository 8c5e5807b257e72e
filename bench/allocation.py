"""Allocation throughput: allocations per second with 1, 4 and 16 concurrent clients, on one
hot SKU (every client fights for the same stock row) and spread over 1,000 SKUs.

Each client is a thread with its own PostgreSQL connection; each allocation is one order
(``--lines`` lines) in its own transaction, exactly as order intake calls it. The script
drops and recreates its own database (``--reuse`` keeps it), migrates it, seeds the stock,
runs every scenario for ``--seconds`` and prints a table. Afterwards it checks the ledger
invariant over everything it wrote.

    python bench/allocation.py --seconds 10
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_alloc python bench/allocation.py
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings.test")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/oms_bench_alloc"


def prepare_database(url: str, *, fresh: bool) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def seed(sku_count: int) -> tuple[int, list[int]]:
    """One hot SKU and ``sku_count`` others, each with plenty of stock in two warehouses."""
    from django.db import transaction

    from inventory.models import MovementKind, Product, Sku, StockLevel, Warehouse
    from inventory.services.stock import stock_in
    from oms.core.actors import Actor

    actor = Actor.system("bench")
    product, _ = Product.objects.get_or_create(name="Bench product")
    warehouses = [
        Warehouse.objects.get_or_create(
            code=code, defaults={"name": code, "country": "US", "priority": priority}
        )[0]
        for code, priority in (("bench-east", 1), ("bench-west", 2))
    ]
    hot, _ = Sku.objects.get_or_create(
        code="BENCH-HOT", defaults={"product": product, "name": "Hot"}
    )
    existing = set(Sku.objects.filter(code__startswith="BENCH-").values_list("code", flat=True))
    Sku.objects.bulk_create(
        [
            Sku(product=product, code=f"BENCH-{i:05d}", name=f"Bench {i}")
            for i in range(sku_count)
            if f"BENCH-{i:05d}" not in existing
        ]
    )
    skus = list(Sku.objects.filter(code__startswith="BENCH-").exclude(pk=hot.pk).order_by("code"))
    skus = skus[:sku_count]
    stocked = set(
        StockLevel.objects.filter(on_hand__gt=10_000_000).values_list("sku_id", "warehouse_id")
    )
    for warehouse in warehouses:
        # One multi-SKU receipt per warehouse (the receipt service's own bulk path).
        quantities = {
            sku.pk: 100_000_000 for sku in [hot, *skus] if (sku.pk, warehouse.pk) not in stocked
        }
        if quantities:
            with transaction.atomic():
                stock_in(
                    warehouse=warehouse,
                    quantities=quantities,
                    kind=MovementKind.RECEIPT,
                    actor=actor,
                    reason="bench stock",
                )
    return hot.pk, [s.pk for s in skus]


def client_loop(
    n: int, label: str, clients: int, pool: list[int], lines: int, start: float, stop: float
) -> tuple[list[float], int]:
    """One client: allocate orders of ``lines`` SKUs drawn from ``pool`` until ``stop``
    (wall clock), each in its own transaction. Returns (latencies, errors)."""
    from django.db import connection, transaction

    from inventory.services import AllocationLine, stock_allocate
    from oms.core.actors import Actor

    actor = Actor.system("bench")
    rng = random.Random(n)
    latencies: list[float] = []
    errors = 0
    counter = 0
    try:
        time.sleep(max(0.0, start - time.time()))
        while time.time() < stop:
            counter += 1
            chosen = rng.sample(pool, min(lines, len(pool)))
            order = [
                AllocationLine(f"bench:{label}:{clients}:{n}:{counter}:{i}:{start}", sku_id, 1)
                for i, sku_id in enumerate(chosen)
            ]
            began = time.perf_counter()
            try:
                with transaction.atomic():
                    stock_allocate(
                        lines=order,
                        reference=f"bench:{n}:{counter}",
                        destination_country="US",
                        actor=actor,
                    )
            except Exception:  # noqa: BLE001 - counted and reported
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
    finally:
        connection.close()
    return latencies, errors


def _process_init(url: str, ready: object) -> None:
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    ready.wait()  # type: ignore[attr-defined]  # no worker takes a task before all are set up


def run_scenario(
    *, clients: int, seconds: float, pool: list[int], lines: int, label: str, mode: str, url: str
) -> dict[str, object]:
    def plan() -> list[tuple]:
        start = time.time() + 0.5  # every client starts at the same moment
        return [(n, label, clients, pool, lines, start, start + seconds) for n in range(clients)]

    if mode == "processes":
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        ready = context.Barrier(clients)
        with context.Pool(clients, initializer=_process_init, initargs=(url, ready)) as workers:
            # Any task finishing means every worker passed the barrier: start the clock.
            workers.map(time.sleep, [0.0], chunksize=1)
            outcomes = workers.starmap(client_loop, plan(), chunksize=1)
    else:
        args = plan()
        outcomes = [([], 0)] * clients

        def run(i: int) -> None:
            outcomes[i] = client_loop(*args[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    done = sorted(x for latencies, _ in outcomes for x in latencies)
    return {
        "scenario": label,
        "clients": clients,
        "allocations": len(done),
        "errors": sum(e for _, e in outcomes),
        "per_second": len(done) / seconds,
        "p50_ms": statistics.median(done) * 1000 if done else 0.0,
        "p95_ms": done[int(len(done) * 0.95) - 1] * 1000 if len(done) >= 20 else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each run.")
    parser.add_argument("--clients", default="1,4,16", help="Comma-separated client counts.")
    parser.add_argument("--skus", type=int, default=1000, help="SKUs in the spread scenario.")
    parser.add_argument("--lines", type=int, default=1, help="Lines per order.")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the bench database from the last run."
    )
    parser.add_argument(
        "--mode",
        choices=["threads", "processes"],
        default="threads",
        help="Clients as threads (one process) or as processes (no shared interpreter lock).",
    )
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    if os.environ.get("DATABASE_URL", "").rstrip("/").endswith("oms_bench_alloc"):
        url = os.environ["DATABASE_URL"]
    prepare_database(url, fresh=not args.reuse)
    setup_django(url)
    print(f"database {url.rpartition('@')[2]}; seeding 1 hot SKU and {args.skus} SKUs...")
    hot, spread = seed(args.skus)

    results = []
    for label, pool, lines in (("hot SKU", [hot], 1), (f"{args.skus} SKUs", spread, args.lines)):
        for clients in [int(c) for c in args.clients.split(",")]:
            result = run_scenario(
                clients=clients,
                seconds=args.seconds,
                pool=pool,
                lines=lines,
                label=label,
                mode=args.mode,
                url=url,
            )
            results.append(result)
            print(
                f"  {label:<12} {clients:>3} client(s): {result['per_second']:8.1f}/s", flush=True
            )

    print()
    print(
        f"Allocations per second ({args.seconds:g} s per run, clients as {args.mode}, "
        f"{args.lines} line(s) per order in the spread scenario)"
    )
    header = f"{'scenario':<14}{'clients':>8}{'allocs':>10}{'errors':>8}{'allocs/s':>11}{'p50 ms':>9}{'p95 ms':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['scenario']:<14}{r['clients']:>8}{r['allocations']:>10}{r['errors']:>8}"
            f"{r['per_second']:>11.1f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
        )

    from inventory.selectors import stock_drift

    drift = stock_drift()
    print()
    print("ledger invariant:", "OK" if not drift else f"{len(drift)} drifting stock level(s)")
    return 0 if not drift else 1


if __name__ == "__main__":
    sys.exit(main())
