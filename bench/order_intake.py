"""Order intake over HTTP: orders per second and latency through a real WSGI server.

The script creates (drops and recreates) its own PostgreSQL database, migrates it, seeds a
channel with an API key, customers and SKUs with limited stock, then starts gunicorn as the
README deploys it (``-c oms/gunicorn.conf.py``: 2 gevent workers, a database connection pool
per worker; ``oms.wsgi``, production settings with DEBUG off) on a free local port. A worker
takes the requests of many clients at once, so intake can group the placements that arrive
together into one transaction (``orders.services.order_place_grouped``). ``--worker-class
gthread --threads 32 --pool 0`` runs the earlier set-up (32 threads per worker, a persistent
connection per thread) for comparison; ``--worker-class sync`` one request per worker. For
each client count (1, 8, 32) it runs

  * the trivial authenticated endpoint ``GET /api/v1/ping/`` — the server's ceiling, and
  * ``POST /api/v1/orders/`` (1–3 lines, an Idempotency-Key each) — order intake,

each client a thread with its own keep-alive ``http.client`` connection, and prints
requests/s, p50/p95/p99 latency and the intake/ping ratio. A last round has 64 clients race
for the last N units of one hot SKU: exactly N orders must be allocated, every other answer
a 409 out_of_stock, no 5xx, no deadlock. At the end it checks that no SKU was oversold: per
SKU, the units allocated in stock equal the units the orders hold, allocated ≤ on hand
everywhere, and the stock ledger balances (``inventory.selectors.stock_drift``).

    python bench/order_intake.py            # full run (the lead's figures)
    python bench/order_intake.py --quick    # small scale: proves it works
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/oms_bench_orders"

SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "oms.settings.production",
    "SECRET_KEY": "bench-only-not-a-secret",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "DB_CONN_MAX_AGE": "300",
    "OMS_CHANNEL_THROTTLE_RATE": "100000000/min",
    "LOG_LEVEL": "WARNING",
}
SERVER_LOG = Path(os.environ.get("TMPDIR", "/tmp")) / "oms_bench_order_intake_server.log"
ADDRESS = {"name": "Bench", "line1": "1 Load Street", "city": "Newark", "country": "US"}


# ----------------------------------------------------------------------------- database


def prepare_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ.update(SERVER_ENV)
    os.environ["DATABASE_URL"] = url
    os.environ["DB_CONN_MAX_AGE"] = "0"  # the bench process itself
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


@dataclass
class Seed:
    secret: str
    customer_ids: list[int]
    sku_codes: list[str]
    hot_code: str
    hot_units: int


def seed(*, sku_count: int, units_per_sku: int, customers: int, hot_units: int) -> Seed:
    from customers.services import customer_create
    from inventory.services import product_create, sku_create, stock_receive, warehouse_create
    from oms.core.actors import Actor
    from oms.core.services import api_key_create, channel_create

    actor = Actor.system("bench")
    channel = channel_create(code="bench", name="Bench web shop", allow_backorders=False)
    _, secret = api_key_create(channel=channel, name="bench")
    warehouse = warehouse_create(code="bench-wh", name="Bench warehouse", country="US")
    product = product_create(name="Bench product")
    codes = []
    for i in range(sku_count):
        sku = sku_create(
            product=product, code=f"BENCH-{i:04d}", name=f"Bench SKU {i}", prices={"USD": 1500}
        )
        stock_receive(sku=sku, warehouse=warehouse, quantity=units_per_sku, actor=actor)
        codes.append(sku.code)
    hot = sku_create(product=product, code="BENCH-HOT", name="Hot SKU", prices={"USD": 9900})
    stock_receive(sku=hot, warehouse=warehouse, quantity=hot_units, actor=actor)
    ids = [
        customer_create(email=f"bench{i}@example.com", channel=channel, actor=actor).pk
        for i in range(customers)
    ]
    return Seed(secret, ids, codes, hot.code, hot_units)


# ----------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    url: str, port: int, workers: int, worker_class: str, threads: int, pool: int | None
) -> subprocess.Popen:
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": url}
    if pool is not None:
        env["DB_POOL_MAX_SIZE"] = str(pool)
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "oms.wsgi:application",
        "--config",
        str(ROOT / "oms" / "gunicorn.conf.py"),
        "--worker-class",
        worker_class,
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--backlog",
        "2048",
    ]
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    log = open(SERVER_LOG, "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/ping/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("gunicorn did not start")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- CPU


def cpu_seconds(server: subprocess.Popen) -> tuple[float, float] | None:
    """CPU seconds used so far by the server (gunicorn's processes: its session) and by
    PostgreSQL (every ``postgres`` process on the machine), read from /proc; None elsewhere.
    Taken before and after a round, the difference per request tells where an order's CPU
    goes; the two cores are the budget."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    served = database = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = int(fields[11]) + int(fields[12])  # utime + stime
        if int(fields[3]) == server.pid:  # session id: gunicorn started its own session
            served += used
        elif name == "postgres":
            database += used
    return served / tick, database / tick


# ----------------------------------------------------------------------------- clients


@dataclass
class Round:
    label: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu: tuple[float, float] | None = None  # server and PostgreSQL CPU ms per success

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if s < 300)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    @property
    def per_second(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


class Client:
    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Idempotency-Key"] = uuid.uuid4().hex
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw else {})
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A sync worker closed the keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def run_round(
    *, label: str, clients: int, port: int, secret: str, requests_each: int, make_request
) -> Round:
    result = Round(label=label, clients=clients)
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        client = Client(port, secret)
        rng = random.Random(index)
        local: list[tuple[float, int, str]] = []
        barrier.wait()
        for n in range(requests_each):
            method, path, body = make_request(rng, index, n)
            started = time.perf_counter()
            status, data = client.call(method, path, body)
            code = data.get("error", {}).get("code", "") if isinstance(data, dict) else ""
            local.append((time.perf_counter() - started, status, code))
        client.conn.close()
        with lock:
            for latency, status, code in local:
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status < 300:
                    result.latencies.append(latency)
                if code:
                    result.codes[code] = result.codes.get(code, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    result.elapsed = time.perf_counter() - started
    return result


# ----------------------------------------------------------------------------- checks


def check_no_oversell(hot_code: str, hot_units: int) -> list[str]:
    from django.db.models import F, Sum

    from inventory.models import Sku, StockLevel
    from inventory.selectors import stock_drift
    from orders.models import OrderLine, OrderStatus

    problems = []
    if StockLevel.objects.filter(allocated__gt=F("on_hand")).exists():
        problems.append("a stock level has more allocated than on hand")
    held = dict(
        OrderLine.objects.exclude(order__status=OrderStatus.CANCELLED)
        .values_list("sku_id")
        .annotate(units=Sum("allocated_quantity") + Sum("shipped_quantity"))
        .values_list("sku_id", "units")
    )
    allocated = dict(
        StockLevel.objects.values_list("sku_id")
        .annotate(units=Sum("allocated"))
        .values_list("sku_id", "units")
    )
    for sku_id in set(held) | set(allocated):
        if (held.get(sku_id) or 0) != (allocated.get(sku_id) or 0):
            problems.append(
                f"SKU {sku_id}: orders hold {held.get(sku_id)} units, stock says {allocated.get(sku_id)}"
            )
    hot = Sku.objects.get(code=hot_code)
    hot_orders = OrderLine.objects.filter(sku=hot).count()
    if hot_orders != hot_units:
        problems.append(f"hot SKU: {hot_orders} orders for {hot_units} units")
    drift = stock_drift()
    if drift:
        problems.append(f"{len(drift)} stock level(s) drift from the ledger")
    return problems


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Small scale: prove it works.")
    parser.add_argument("--clients", default="1,8,32", help="Comma-separated client counts.")
    parser.add_argument("--requests", type=int, default=None, help="Requests per client per round.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--worker-class", default="gevent", choices=["gevent", "gthread", "sync"])
    parser.add_argument("--threads", type=int, default=32, help="Threads per gthread worker.")
    parser.add_argument(
        "--pool",
        type=int,
        default=None,
        help="Database pool size per worker (default: oms/gunicorn.conf.py's; 0: a "
        "persistent connection per thread instead).",
    )
    parser.add_argument("--hot-units", type=int, default=None, help="Units of the hot SKU.")
    parser.add_argument("--hot-clients", type=int, default=64)
    parser.add_argument("--keep-db", action="store_true", help="Leave the bench database behind.")
    args = parser.parse_args()

    clients_list = [int(c) for c in args.clients.split(",")]
    requests_each = args.requests or (6 if args.quick else 200)
    hot_units = args.hot_units or (10 if args.quick else 40)
    sku_count = 20 if args.quick else 200
    # Enough stock that the throughput rounds never run out, yet finite.
    most_orders = requests_each * max(clients_list) * len(clients_list)
    units = max(100, most_orders * 6 // sku_count + 50)

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    print(f"database {url.rpartition('@')[2]} (recreated)", flush=True)
    prepare_database(url)
    setup_django(url)
    data = seed(sku_count=sku_count, units_per_sku=units, customers=50, hot_units=hot_units)
    port = free_port()
    shape = f"{args.threads} thread(s)" if args.worker_class == "gthread" else args.worker_class
    pool = "default pool" if args.pool is None else f"pool {args.pool}" if args.pool else "no pool"
    print(
        f"gunicorn: {args.workers} worker(s) × {shape}, {pool}, on :{port}; "
        f"{sku_count} SKUs × {units} units; hot SKU {hot_units} units",
        flush=True,
    )
    server = start_server(url, port, args.workers, args.worker_class, args.threads, args.pool)

    def ping(rng: random.Random, index: int, n: int):
        return "GET", "/api/v1/ping/", None

    def order(rng: random.Random, index: int, n: int):
        picks = rng.sample(data.sku_codes, rng.randint(1, 3))
        return (
            "POST",
            "/api/v1/orders/",
            {
                "customer_id": rng.choice(data.customer_ids),
                "lines": [{"sku": code, "quantity": rng.randint(1, 2)} for code in picks],
                "shipping_address": ADDRESS,
            },
        )

    def hot(rng: random.Random, index: int, n: int):
        return (
            "POST",
            "/api/v1/orders/",
            {
                "customer_id": data.customer_ids[index % len(data.customer_ids)],
                "external_id": f"HOT-{index}-{n}",
                "lines": [{"sku": data.hot_code, "quantity": 1}],
                "shipping_address": ADDRESS,
            },
        )

    rows = []
    failures = []
    try:
        # Warm both workers (imports, connections) before measuring.
        run_round(
            label="warm-up",
            clients=4,
            port=port,
            secret=data.secret,
            requests_each=5,
            make_request=ping,
        )
        run_round(
            label="warm-up",
            clients=2,
            port=port,
            secret=data.secret,
            requests_each=3,
            make_request=order,
        )
        for clients in clients_list:
            p = run_round(
                label="ping",
                clients=clients,
                port=port,
                secret=data.secret,
                requests_each=requests_each,
                make_request=ping,
            )
            before = cpu_seconds(server)
            o = run_round(
                label="orders",
                clients=clients,
                port=port,
                secret=data.secret,
                requests_each=requests_each,
                make_request=order,
            )
            after = cpu_seconds(server)
            if before and after and o.ok:
                o.cpu = (
                    (after[0] - before[0]) * 1000 / o.ok,
                    (after[1] - before[1]) * 1000 / o.ok,
                )
            rows.append((clients, p, o))
            print(
                f"  {clients:>3} client(s): ping {p.per_second:7.1f}/s   orders {o.per_second:7.1f}/s "
                f"(p95 {o.pct(0.95):.1f} ms)",
                flush=True,
            )
            for r in (p, o):
                if r.ok != clients * requests_each:
                    failures.append(f"{r.label} × {clients}: statuses {r.statuses} codes {r.codes}")
        race = run_round(
            label="hot",
            clients=args.hot_clients,
            port=port,
            secret=data.secret,
            requests_each=1,
            make_request=hot,
        )
    finally:
        stop_server(server)

    print()
    print("Order intake over HTTP (gunicorn, PostgreSQL) vs GET /api/v1/ping/ on the same server")
    print("(srv CPU / pg CPU: milliseconds of CPU per order in gunicorn / in PostgreSQL)")
    header = (
        f"{'clients':>7} {'ping/s':>9} {'ping p50':>9} {'orders/s':>9} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8} {'ratio':>7} {'srv CPU':>8} {'pg CPU':>7}"
    )
    print(header)
    print("-" * len(header))
    for clients, p, o in rows:
        ratio = o.per_second / p.per_second if p.per_second else float("nan")
        server_ms, db_ms = o.cpu or (float("nan"), float("nan"))
        print(
            f"{clients:>7} {p.per_second:>9.1f} {p.pct(0.5):>9.1f} {o.per_second:>9.1f} "
            f"{o.pct(0.5):>8.1f} {o.pct(0.95):>8.1f} {o.pct(0.99):>8.1f} {ratio:>7.2f} "
            f"{server_ms:>8.2f} {db_ms:>7.2f}"
        )
    print()
    print(
        f"hot SKU: {args.hot_clients} clients raced for {hot_units} units → {race.ok} allocated, "
        f"statuses {dict(sorted(race.statuses.items()))}, codes {race.codes}, "
        f"{race.elapsed * 1000:.0f} ms"
    )
    if race.ok != hot_units:
        failures.append(f"hot SKU: {race.ok} orders for {hot_units} units")
    if race.server_errors:
        failures.append(f"hot SKU: {race.server_errors} server error(s)")
    others = {c: n for c, n in race.codes.items() if c != "out_of_stock"}
    if others:
        failures.append(f"hot SKU: unexpected error codes {others}")

    problems = check_no_oversell(data.hot_code, hot_units)
    print("no oversell:", "OK" if not problems else "; ".join(problems))
    failures += problems
    if not args.keep_db:
        from django.db import connections

        connections.close_all()
        base, _, name = url.rpartition("/")
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if failures:
        print("FAILED:", *failures, f"(server log: {SERVER_LOG})", sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
