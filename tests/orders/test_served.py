"""Order intake served as deployed: gunicorn with oms/gunicorn.conf.py (gevent workers, a pool
of database connections), production settings, over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from inventory.models import StockLevel
from oms.core.services import api_key_create
from orders.models import Order
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.orders import ADDRESS, stocked_sku
from tests.stripe_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 16


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _serve(port: int, pool: int) -> subprocess.Popen[bytes]:
    owned = ("DJANGO_", "SECRET_KEY", "DATABASE_URL", "OMS_", "ALLOWED_HOSTS", "DB_", "GUNICORN_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(owned)}
    env.update(
        DJANGO_SETTINGS_MODULE="oms.settings.production",
        SECRET_KEY="served-test-" + "k" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=_database_url(),
        DB_POOL_MAX_SIZE=str(pool),
        LOG_LEVEL="ERROR",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "oms.wsgi:application", "-c", "oms/gunicorn.conf.py",
         "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/schema/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise AssertionError("gunicorn did not start")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_placements_under_gevent_share_transactions_and_a_small_pool():
    channel = ChannelFactory(allow_backorders=False)
    _, secret = api_key_create(channel=channel, name="served")
    sku = stocked_sku(quantity=CLIENTS - 2)
    customer = CustomerFactory(source_channel=channel)
    port = free_port()
    # Fewer connections than requests in flight: the rest wait for one, none fails.
    server = _serve(port, pool=4)
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
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

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
