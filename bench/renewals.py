"""Renewal cycle throughput: N due subscriptions renewed end to end on PostgreSQL — claim,
invoice, charge, order, allocation, shipment — by ``--workers`` processes sharing one run
(each runs ``renewal_run_execute``; the claim's SKIP LOCKED divides the work), each driving
its claimed batches with ``--threads`` threads (so charges are in flight while it writes).

It runs twice, each time in a fresh database it creates, migrates and seeds with bulk
inserts (``--n`` subscriptions, 1–3 SKUs per box, stock in ``--warehouses`` warehouses):

1. ``inprocess``: the payment step answered in-process (our own cost, no gateway).
2. ``localstripe``: the Stripe SDK against a localstripe the script starts on a free port.
   Before the cycle, the SDK alone charges the same number of times against a localstripe
   started and seeded the same way (N customers, no charges yet) with the same concurrency
   (workers × threads): the cycle should keep its localstripe as busy (renewals/s ≥ 80% of
   those charges/s). Two fresh instances, because localstripe gets slower as its store
   fills: one instance charged N times first would hand the cycle a slower server.

For each it prints renewals/second, rows written (per table), queries per renewal, peak
memory (max RSS of the workers; it stays flat as N grows because everything is streamed in
claim batches), the rate-limiter wait, and the COPY floor: the rows the cycle inserted are
copied out of PostgreSQL, then COPYed back into empty copies of the same tables (same
indexes and constraints, no foreign keys), timed; the ratio cycle time ÷ COPY time says how
far the cycle is from the database's bulk-load floor.

    python bench/renewals.py                 # 20,000 subscriptions, 2 workers
    python bench/renewals.py --n 100000 --workers 2
    python bench/renewals.py --n 500 --modes inprocess
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import itertools
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings.test")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/oms_bench_renewals"
AS_OF = dt.date(2026, 6, 15)
API_KEY = "sk_test_oms_bench"


# --- database -------------------------------------------------------------------------------


def fresh_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


# --- seeding --------------------------------------------------------------------------------


def seed(*, n: int, skus: int, warehouses: int, stripe_customers: list[str] | None) -> None:
    """Bulk inserts: a catalog with stock everywhere, a dozen box plans of 1–3 SKUs, and ``n``
    customers with one subscription each, all due on ``AS_OF``."""
    from django.db import transaction

    from customers.models import Customer
    from inventory.models import Product, Sku, SkuPrice, StockLevel, Warehouse
    from oms.core.actors import Actor
    from oms.core.models import Channel, ChannelKind
    from subscriptions.models import Subscription, SubscriptionStatus
    from subscriptions.services import plan_create

    rng = random.Random(42)
    actor = Actor.system("bench")
    Channel.objects.get_or_create(
        code="subscriptions",
        defaults={
            "name": "Subscription renewals",
            "kind": ChannelKind.SUBSCRIPTIONS,
            "allow_backorders": True,
        },
    )
    product = Product.objects.create(name="Bench product")
    catalog = Sku.objects.bulk_create(
        [
            Sku(product=product, code=f"BOX-{i:04d}", name=f"Box item {i}", weight_grams=300)
            for i in range(skus)
        ]
    )
    SkuPrice.objects.bulk_create([SkuPrice(sku=s, currency="USD", amount=900) for s in catalog])
    houses = Warehouse.objects.bulk_create(
        [
            Warehouse(code=f"wh-{i}", name=f"Warehouse {i}", country="US", priority=10 * (i + 1))
            for i in range(warehouses)
        ]
    )
    # Each SKU is stocked in a random half of the warehouses (at least one), plenty of it.
    StockLevel.objects.bulk_create(
        [
            StockLevel(sku=sku, warehouse=wh, on_hand=10_000_000)
            for sku in catalog
            for wh in rng.sample(houses, max(1, len(houses) // 2))
        ]
    )
    plans = []
    for p in range(12):
        items = rng.sample(catalog, rng.randint(1, 3))
        plans.append(
            plan_create(
                code=f"bench-box-{p}", name=f"Bench box {p}", interval_unit="month",
                prices=[{"currency": "USD", "amount": 2000 + 100 * p}],
                items=[{"sku": sku, "quantity": rng.randint(1, 2)} for sku in items], actor=actor,
            ).versions.get()
        )  # fmt: skip
    address = {
        "name": "Bench Customer", "company": "", "line1": "1 Bench Street", "line2": "",
        "city": "Springfield", "region": "", "postal_code": "12345", "country": "US", "phone": "",
    }  # fmt: skip
    anchor = AS_OF.replace(month=AS_OF.month - 1)
    chunk = 5000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        with transaction.atomic():
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        email=f"bench{start + i}@example.com",
                        first_name="Bench",
                        last_name=str(start + i),
                        stripe_customer_id=(
                            stripe_customers[start + i]
                            if stripe_customers
                            else f"cus_inproc_bench{start + i}"
                        ),
                    )
                    for i in range(size)
                ]
            )
            Subscription.objects.bulk_create(
                [
                    Subscription(
                        customer=c, plan_version=(pv := rng.choice(plans)), quantity=1, currency="USD",
                        status=SubscriptionStatus.ACTIVE, interval_unit=pv.interval_unit,
                        interval_count=pv.interval_count, billing_anchor=anchor,
                        current_period_start=anchor, current_period_end=AS_OF, next_renewal_date=AS_OF,
                        cycles_completed=1, shipping_address=address, payment_method="pm_card_visa",
                    )
                    for c in customers
                ]
            )  # fmt: skip


# --- localstripe ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_localstripe() -> tuple[subprocess.Popen[bytes], str]:
    """localstripe on a free port, in memory and from scratch — the same boot as the tests
    (tests/stripe_server.py): the stock server pickles its whole store to /tmp on every write,
    which makes it slower as it fills and would measure that, not our cycle."""
    from tests.stripe_server import LocalStripe

    server = LocalStripe().start(timeout=120)
    assert server.process is not None
    return server.process, server.url


def make_stripe_customers(url: str, n: int, workers: int) -> list[str]:
    """One Stripe customer per subscriber in localstripe (seeding, not measured)."""
    from concurrent.futures import ThreadPoolExecutor

    from billing.gateway import RateLimiter, StripeGateway

    gateway = StripeGateway(
        api_key=API_KEY, api_base=url, max_network_retries=0, limiter=RateLimiter(rate=0)
    )

    def create(i: int) -> str:
        return gateway.client.v1.customers.create(params={"email": f"bench{i}@example.com"}).id

    with ThreadPoolExecutor(max(4, workers * 2)) as pool:
        return list(pool.map(create, range(n)))


def _sdk_worker(url: str, customers: list[str], threads: int, out: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from billing.gateway import RateLimiter, StripeGateway

    gateway = StripeGateway(
        api_key=API_KEY, api_base=url, max_network_retries=0, limiter=RateLimiter(rate=0)
    )

    def charge(customer: str) -> bool:
        return gateway.charge_off_session(
            amount=2000, currency="USD", customer_id=customer, payment_method_id="pm_card_visa",
            idempotency_key=f"bench-sdk-{uuid.uuid4()}", metadata={"bench": "sdk"},
        ).succeeded  # fmt: skip

    with ThreadPoolExecutor(threads) as pool:
        out.put(sum(pool.map(charge, customers)))


def sdk_alone(url: str, customers: list[str], workers: int, threads: int) -> tuple[int, float]:
    """Charges/s the SDK alone reaches against localstripe with the cycle's concurrency
    (``workers`` processes × ``threads`` threads)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    shares = [customers[i::workers] for i in range(workers)]
    started = time.perf_counter()
    procs = [ctx.Process(target=_sdk_worker, args=(url, share, threads, queue)) for share in shares]
    for p in procs:
        p.start()
    ok = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return ok, time.perf_counter() - started


# --- the cycle ------------------------------------------------------------------------------


def _cycle_worker(
    mode: str, url: str, batch: int, threads: int, stripe_rate: float, out: Any
) -> None:
    from django.db import connection

    from billing.gateway import InProcessGateway, RateLimiter, StripeGateway
    from subscriptions.renewal.cycle import renewal_run_execute

    connection.close()  # never share the parent's socket
    if mode == "inprocess":

        class BenchGateway(InProcessGateway):
            """Ids unique across worker processes; no call log, and no PaymentIntents kept
            once answered: Stripe keeps those on its side, and the stand-in keeping them in
            the worker (about 0.7 KB a charge: 35 MB per worker at N=100,000) would put
            the gateway's memory into the cycle's peak RSS. Nothing in a bench run asks
            for a charge again."""

            prefix = f"{os.getpid()}x"

            def _next_id(self, prefix: str) -> str:
                return f"{prefix}_inproc_{self.prefix}{next(self._ids)}"

            def charge_off_session(self, **kwargs: Any) -> Any:
                result = super().charge_off_session(**kwargs)
                with self._lock:
                    key = kwargs["idempotency_key"]
                    self._intents.pop(self._by_key.pop(key, ""), None)
                    self._by_attempt.pop(key, None)
                return result

        gateway: Any = BenchGateway(record_calls=False)
    else:
        gateway = StripeGateway(
            api_key=API_KEY,
            api_base=url,
            max_network_retries=0,
            limiter=RateLimiter(rate=stripe_rate),
        )
    # Count every query of every thread's connection at the one place Django runs them.
    from django.db.backends.utils import CursorWrapper

    ticks = itertools.count()  # next() on a count is atomic in CPython: no lost increments
    original = CursorWrapper._execute_with_wrappers

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        next(ticks)
        return original(self, *args, **kwargs)

    CursorWrapper._execute_with_wrappers = counted  # type: ignore[method-assign]
    try:
        run = renewal_run_execute(as_of=AS_OF, gateway=gateway, batch_size=batch, threads=threads)
    except BaseException:
        import traceback

        out.put({"error": traceback.format_exc()})
        return
    out.put(
        {
            "run": run.pk, "due": run.due, "renewed": run.renewed, "errored": run.errored,
            "queries": next(ticks), "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "waited": float(run.rate_limit_wait_seconds),
        }
    )  # fmt: skip
    connection.close()


def analyze_seeded() -> None:
    """ANALYZE the tables the seed filled, and only those. Analyzing an empty table records
    "0 rows" (PostgreSQL 14+), and the plans a session then caches for it — the foreign-key
    checks of every INSERT above all — scan it sequentially for the rest of the session: as
    the cycle fills orders, lines and shipments, each check reads the whole table (seen:
    320 million tuples read for 23,000 shipments at N=20,000, throughput falling with N). A
    live OMS never has those tables empty; a table never analyzed gets the planner's
    defaults, which use the index."""
    from django.db import connection

    with connection.cursor() as cursor:
        for _, table, _, rows in table_state().values():
            if rows:
                cursor.execute(f"ANALYZE {table}")


def table_state() -> dict[str, tuple[str, str, int, int]]:
    """{table: (pk column, quoted table, max pk, row count)} for every model table."""
    from django.apps import apps
    from django.db import connection

    state = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            meta = model._meta
            if meta.proxy or not meta.managed or meta.db_table in state:
                continue
            if meta.pk.get_internal_type() not in ("AutoField", "BigAutoField", "SmallAutoField"):
                continue
            table, pk = (
                connection.ops.quote_name(meta.db_table),
                connection.ops.quote_name(meta.pk.column),
            )
            cursor.execute(f"SELECT coalesce(max({pk}), 0), count(*) FROM {table}")
            top, rows = cursor.fetchone()
            state[meta.db_table] = (pk, table, int(top), int(rows))
    return state


def copy_floor(before: dict[str, tuple[str, str, int, int]]) -> tuple[dict[str, int], float]:
    """COPY the rows the cycle inserted out, then time COPYing them into empty copies of
    their tables (same columns, indexes and checks; no foreign keys)."""
    from django.db import connection

    written: dict[str, int] = {}
    buffers: dict[str, bytes] = {}
    connection.ensure_connection()
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cursor:
        for name, (pk, table, top, _) in before.items():
            buf = io.BytesIO()
            with cursor.copy(f"COPY (SELECT * FROM {table} WHERE {pk} > {top}) TO STDOUT") as copy:
                for data in copy:
                    buf.write(data)
            data = buf.getvalue()
            if data:
                buffers[name] = data
                written[name] = data.count(b"\n")
        for name in buffers:
            cursor.execute(f'CREATE TEMP TABLE "floor_{name}" (LIKE "{name}" INCLUDING ALL)')
        started = time.perf_counter()
        for name, data in buffers.items():
            with cursor.copy(f'COPY "floor_{name}" FROM STDIN') as copy:
                copy.write(data)
        raw.commit()
        elapsed = time.perf_counter() - started
        for name in buffers:
            cursor.execute(f'DROP TABLE "floor_{name}"')
        raw.commit()
    return written, elapsed


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection, connections

    connections.close_all()
    fresh_database(args.database_url)
    migrate()
    stripe_proc = None
    url = ""
    customers: list[str] | None = None
    result: dict[str, Any] = {"mode": mode}
    try:
        if mode == "localstripe":
            # localstripe slows down as its store fills (every charge costs more than the one
            # before: 34 -> 16 -> 9.5 charges/s over three rounds of 1,000 on one instance),
            # so the SDK-alone baseline and the cycle each get a fresh instance seeded the
            # same way — N customers, no charges — rather than one after the other on one.
            baseline_proc, baseline_url = start_localstripe()
            try:
                baseline_customers = make_stripe_customers(baseline_url, args.n, args.workers)
                ok, seconds = sdk_alone(
                    baseline_url, baseline_customers, args.workers, args.threads
                )
            finally:
                baseline_proc.kill()
                baseline_proc.wait()
            result["sdk_charges_per_s"] = ok / seconds
            print(f"  [{mode}] SDK alone: {ok:,} charges in {seconds:.1f}s = {ok / seconds:,.1f}/s")
            stripe_proc, url = start_localstripe()
            settings.STRIPE_API_KEY, settings.STRIPE_API_BASE = API_KEY, url
            t = time.perf_counter()
            customers = make_stripe_customers(url, args.n, args.workers)
            print(
                f"  [{mode}] {args.n:,} Stripe customers in a fresh localstripe: "
                f"{time.perf_counter() - t:.1f}s"
            )
        t = time.perf_counter()
        seed(n=args.n, skus=args.skus, warehouses=args.warehouses, stripe_customers=customers)
        print(f"  [{mode}] seeded {args.n:,} due subscriptions in {time.perf_counter() - t:.1f}s")
        analyze_seeded()
        before = table_state()
        connection.close()

        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        started = time.perf_counter()
        procs = [
            ctx.Process(
                target=_cycle_worker,
                args=(mode, url, args.batch_size, args.threads, args.stripe_rate, queue),
            )
            for _ in range(args.workers)
        ]
        for p in procs:
            p.start()
        reports = [queue.get(timeout=6 * 3600) for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - started
        failed = [r["error"] for r in reports if "error" in r]
        if failed:
            raise RuntimeError("A worker failed:\n" + "\n".join(failed))

        renewed = sum(r["renewed"] for r in reports)
        written, copy_seconds = copy_floor(before)
        total_rows = sum(written.values())
        result.update(
            renewals=renewed, due=sum(r["due"] for r in reports), errored=sum(r["errored"] for r in reports),
            seconds=elapsed, per_second=renewed / elapsed if elapsed else 0.0,
            queries_per_renewal=sum(r["queries"] for r in reports) / max(renewed, 1),
            peak_rss_mb=max(r["maxrss_kb"] for r in reports) / 1024, rows=total_rows,
            rows_per_renewal=total_rows / max(renewed, 1), copy_seconds=copy_seconds,
            copy_ratio=elapsed / copy_seconds if copy_seconds else float("inf"),
            waited=sum(r["waited"] for r in reports), written=written,
        )  # fmt: skip
        if "sdk_charges_per_s" in result:
            result["vs_sdk"] = result["per_second"] / result["sdk_charges_per_s"]
        return result
    finally:
        if stripe_proc is not None:
            stripe_proc.kill()
            stripe_proc.wait()


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    import platform

    print()
    print(f"Renewal cycle, N={args.n:,}, workers={args.workers}×{args.threads} threads, batch={args.batch_size}, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}")  # fmt: skip
    header = ("mode", "renewed", "errored", "seconds", "renewals/s", "queries/renewal", "rows written",
              "rows/renewal", "COPY s", "cycle÷COPY", "peak RSS MB", "limiter wait s", "SDK alone/s", "cycle÷SDK")  # fmt: skip
    rows = [header]
    for r in results:
        rows.append((
            r["mode"], f"{r['renewals']:,}", str(r["errored"]), f"{r['seconds']:.2f}", f"{r['per_second']:,.1f}",
            f"{r['queries_per_renewal']:.1f}", f"{r['rows']:,}", f"{r['rows_per_renewal']:.1f}",
            f"{r['copy_seconds']:.3f}", f"{r['copy_ratio']:.1f}×", f"{r['peak_rss_mb']:.0f}", f"{r['waited']:.2f}",
            f"{r['sdk_charges_per_s']:,.1f}" if "sdk_charges_per_s" in r else "-",
            f"{r['vs_sdk']:.0%}" if "vs_sdk" in r else "-",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for r in results:
        top = sorted(r["written"].items(), key=lambda kv: -kv[1])
        print(
            f"\nRows inserted by the cycle ({r['mode']}): "
            + ", ".join(f"{t} {c:,}" for t, c in top)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="Due subscriptions (default 20,000).")
    parser.add_argument("--workers", type=int, default=2, help="Worker processes sharing the run.")
    parser.add_argument("--batch-size", type=int, default=200, help="Subscriptions per claim.")
    parser.add_argument(
        "--threads", type=int, default=4, help="Threads per worker driving renewals."
    )
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--warehouses", type=int, default=4)
    parser.add_argument(
        "--modes", default="inprocess,localstripe", help="Comma-separated: inprocess,localstripe."
    )
    parser.add_argument(
        "--stripe-rate", type=float, default=0.0, help="Client-side limit, requests/s (0: off)."
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    setup_django(args.database_url)
    results = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        print(f"- {mode}")
        results.append(run_mode(mode, args))
    report(results, args)


if __name__ == "__main__":
    main()
