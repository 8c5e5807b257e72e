"""gunicorn settings for Seed OMS: ``gunicorn -c oms/gunicorn.conf.py oms.wsgi``.

Loaded by path, so nothing of the app is imported in the master. The environment may
override each default below; gunicorn's own flags override this file.

* gevent workers: each process serves many requests at once, switching between them only
  where one waits (the network, PostgreSQL). Order intake then places the orders that arrive
  together in one transaction (``orders.services.grouping``). Measured against 32 gthread
  threads per process (``bench/order_intake.py``, docs/benchmarks.md): more orders per second
  for less CPU each, because requests no longer contend for the GIL at every round trip.
* A connection pool per process (``DB_POOL_MAX_SIZE``, Django's psycopg pool): a request
  borrows a connection and gives it back when it ends, so PostgreSQL's connections are
  bounded by workers × pool size, not by the clients connected.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Clients served at once per worker; beyond the pool's size they queue for a connection.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
keepalive = 5
# The workers read the settings after this file has run.
os.environ.setdefault("DB_POOL_MAX_SIZE", "32")
