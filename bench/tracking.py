"""Carrier tracking ingestion: signed webhook events per second, first delivery and replay.

The script creates (drops and recreates) its own PostgreSQL database, migrates it, places
``--parcels`` orders through intake (each planned into one parcel by fulfillment), ships
them with an HTTP carrier, then posts every parcel's scans (in transit, out for delivery,
delivered) to ``POST /fulfillment/carriers/<code>/events/`` — HMAC-signed batches of
``--batch`` events, in-process through Django's test client — with 1 and 4 concurrent
clients (threads, each with its own database connection) on disjoint parcels. It then
replays every batch (all duplicates: nothing may change) and checks the outcome: one
stored event per scan, every parcel delivered, every order delivered.

    python bench/tracking.py            # full run (the lead's figures)
    python bench/tracking.py --quick    # small scale: proves it works
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings.test")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/oms_bench_tracking"
SECRET = "bench-webhook-secret"
STEPS = ("in_transit", "out_for_delivery", "delivered")


def prepare_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def seed(parcels: int) -> list[str]:
    """Ship ``parcels`` single-parcel orders; returns their tracking numbers."""
    from fulfillment import services
    from fulfillment.models import Shipment
    from inventory.models import Product, Sku, SkuPrice, Warehouse
    from inventory.services import stock_receive
    from oms.core.actors import Actor
    from oms.core.models import Channel
    from orders.services import order_place
    from tests.factories.customers import CustomerFactory

    actor = Actor.system("bench")
    channel = Channel.objects.create(code="bench", name="Bench")
    warehouse = Warehouse.objects.create(code="bench-wh", name="Bench", country="US")
    sku = Sku.objects.create(
        product=Product.objects.create(name="Bench"), code="BENCH", name="Bench"
    )
    SkuPrice.objects.create(sku=sku, currency="USD", amount=1000)
    stock_receive(sku=sku, warehouse=warehouse, quantity=parcels, actor=actor, reason="bench")
    carrier = services.carrier_create(
        code="benchpost", name="Bench post", adapter="http",
        base_url="http://127.0.0.1:9", webhook_secret=SECRET,
    )  # fmt: skip
    customer = CustomerFactory()
    address = {"line1": "1 Bench Way", "city": "Springfield", "postal_code": "1", "country": "US"}
    numbers = []
    for i in range(parcels):
        order = order_place(
            channel=channel, customer=customer, lines=[{"sku": "BENCH", "quantity": 1}],
            shipping_address=address, actor=actor,
        )  # fmt: skip
        shipment = Shipment.objects.get(order=order)
        services.shipment_start_picking(shipment=shipment, actor=actor)
        services.shipment_mark_packed(shipment=shipment, actor=actor)
        number = f"BT{i:07d}"
        services.shipment_ship(
            shipment=shipment, carrier=carrier, tracking_number=number, actor=actor
        )
        numbers.append(number)
    return numbers


def batches(numbers: list[str], size: int) -> list[bytes]:
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    events = [
        {
            "event_id": f"{number}-{step}",
            "tracking_number": number,
            "status": step,
            "occurred_at": (start + timedelta(hours=6 * n)).isoformat(),
        }
        for n, step in enumerate(STEPS)
        for number in numbers
    ]
    return [
        json.dumps({"events": events[i : i + size]}).encode() for i in range(0, len(events), size)
    ]


def post_all(shards: list[list[bytes]]) -> tuple[float, list[dict[str, int]]]:
    """Each client (a thread with its own connection) posts its own list of bodies."""
    from django.db import connection
    from django.test import Client

    from fulfillment.carriers import SIGNATURE_HEADER, sign_payload

    answers: list[dict[str, int]] = []
    lock = threading.Lock()
    errors: list[str] = []

    def work(mine: list[bytes]) -> None:
        client = Client(HTTP_HOST="localhost")
        try:
            for body in mine:
                response = client.post(
                    "/fulfillment/carriers/benchpost/events/", body,
                    content_type="application/json",
                    headers={SIGNATURE_HEADER: sign_payload(SECRET, body)},
                )  # fmt: skip
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.content[:200]!r}")
                    continue
                with lock:
                    answers.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(shard,)) for shard in shards]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, first: {errors[0]}")
    return elapsed, answers


def check(numbers: list[str]) -> None:
    from fulfillment.models import Shipment, TrackingEvent
    from orders.models import Order, OrderStatus

    stored = TrackingEvent.objects.filter(tracking_number__in=numbers).count()
    assert stored == 3 * len(numbers), f"{stored} events stored for {3 * len(numbers)} scans"
    not_delivered = Shipment.objects.filter(tracking_number__in=numbers).exclude(status="delivered")
    assert not not_delivered.exists(), f"{not_delivered.count()} parcels not delivered"
    orders = Order.objects.filter(shipments__tracking_number__in=numbers)
    assert not orders.exclude(status=OrderStatus.DELIVERED).exists(), "orders not delivered"


def run(args: argparse.Namespace) -> None:
    prepare_database(args.database_url)
    setup_django(args.database_url)
    print(f"seeding {args.parcels * len(args.clients)} shipped parcels…", flush=True)
    all_numbers = seed(args.parcels * len(args.clients))
    rows = []
    for i, clients in enumerate(args.clients):
        numbers = all_numbers[i * args.parcels : (i + 1) * args.parcels]
        # Each client owns a slice of the parcels and posts their scans in time order.
        shards = [batches(numbers[c::clients], args.batch) for c in range(clients)]
        first, answers = post_all(shards)
        events = sum(a["received"] for a in answers)
        applied = sum(a["applied"] for a in answers)
        replay, again = post_all(shards)
        assert sum(a["duplicates"] for a in again) == events, "replay stored something"
        assert sum(a["stored"] for a in again) == 0
        check(numbers)
        rows.append((clients, events, applied, events / first, events / replay))
    print(f"\n{'clients':>7} {'events':>7} {'applied':>7} {'first ev/s':>11} {'replay ev/s':>12}")
    for clients, events, applied, rate, replay_rate in rows:
        print(f"{clients:>7} {events:>7} {applied:>7} {rate:>11.0f} {replay_rate:>12.0f}")
    print(
        "\nchecks: one stored event per scan, replays stored nothing, every parcel and order delivered"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parcels", type=int, default=400, help="Parcels per client-count run.")
    parser.add_argument("--batch", type=int, default=50, help="Events per webhook request.")
    parser.add_argument("--clients", default="1,4", help="Comma-separated client counts.")
    parser.add_argument("--quick", action="store_true", help="Small scale: 24 parcels.")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    if args.quick:
        args.parcels, args.batch = 24, 8
    run(args)


if __name__ == "__main__":
    main()
