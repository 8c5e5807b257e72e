"""Order intake served as deployed: gunicorn with oms/gunicorn.conf.py (gevent workers, a pool
of database connections), production settings, over HTTP; started by the intake benchmark's
own ``start_server``."""

from __future__ import annotations

import http.client
import json
import os
import threading
import uuid
from pathlib import Path

import pytest
from django.db import connection

from bench.order_intake import start_server, stop_server
from inventory.models import StockLevel
from oms.core.services import api_key_create
from orders.models import Order
from tests.concurrency import database_url
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.orders import ADDRESS, stocked_sku
from tests.stripe_server import free_port

CLIENTS = 16


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_placements_under_gevent_share_transactions_and_a_small_pool():
    channel = ChannelFactory(allow_backorders=False)
    _, secret = api_key_create(channel=channel, name="served")
    sku = stocked_sku(quantity=CLIENTS - 2)
    customer = CustomerFactory(source_channel=channel)
    port = free_port()
    # As the benchmark starts it (oms/gunicorn.conf.py, gevent), but one worker and fewer
    # database connections than requests in flight: the rest wait for one, none fails.
    server = start_server(database_url(), port, workers=1, worker_class="gevent", threads=1, pool=4)
    answers: list[tuple[int, dict]] = []
    barrier = threading.Barrier(CLIENTS)

    def post(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = {
            "customer_id": customer.pk,
            "external_id": f"served-{index}",
            "lines": [{"sku": sku.code, "quantity": 1}],
            "shipping_address": ADDRESS,
        }
        headers = {
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        barrier.wait()
        conn.request("POST", "/api/v1/orders/", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        answers.append((response.status, json.loads(response.read())))

    try:
        threads = [threading.Thread(target=post, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    finally:
        stop_server(server)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * (CLIENTS - 2) + [409] * 2, answers
    assert {a["error"]["code"] for s, a in answers if s == 409} == {"out_of_stock"}
    level = StockLevel.objects.get(sku=sku)
    assert (level.allocated, level.on_hand) == (CLIENTS - 2, CLIENTS - 2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM orders_order")
        (transactions,) = cursor.fetchone()
    assert Order.objects.count() == CLIENTS - 2
    # Placed together: fewer transactions than orders (one per order without grouping).
    assert transactions < CLIENTS - 2


def _established_per_worker(master: int, port: int) -> list[int]:
    """Client connections to ``port`` that each of ``master``'s workers holds (Linux /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    held = []
    for pid in workers:
        fds = Path(f"/proc/{pid}/fd")
        links = [os.readlink(fd) for fd in fds.iterdir()]
        held.append(sum(link[8:-1] in inodes for link in links if link.startswith("socket:[")))
    return held


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_keep_alive_clients_are_spread_evenly_over_the_workers():
    channel = ChannelFactory()
    _, secret = api_key_create(channel=channel, name="served")
    port = free_port()
    server = start_server(database_url(), port, workers=2, worker_class="gevent", threads=1, pool=4)
    clients = []
    try:
        # One after another, as a channel's integration opens its connections and keeps
        # them: whichever worker is back in its loop first would take most of them.
        for _ in range(12):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/v1/ping/", headers={"Authorization": f"Bearer {secret}"})
            assert conn.getresponse().read()
            clients.append(conn)
        held = _established_per_worker(server.pid, port)
    finally:
        for conn in clients:
            conn.close()
        stop_server(server)
    assert sorted(held) == [6, 6]
