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

import mmap
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Clients served at once per worker; beyond the pool's size they queue for a connection.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
keepalive = 5
# The workers read the settings after this file has run.
os.environ.setdefault("DB_POOL_MAX_SIZE", "32")

# Connections held per worker, a slot each, in memory the workers share (anonymous and
# MAP_SHARED, made here in the master before it forks): each worker accepts a connection only
# while it holds no more than its siblings (``oms.core.serving``, whose FREE marks a slot
# without a worker; not imported here, the master imports nothing of the app).
_SLOTS, _FREE = 64, -1
_connections = memoryview(mmap.mmap(-1, 4 * _SLOTS)).cast("i")
for _slot in range(_SLOTS):
    _connections[_slot] = _FREE


def pre_fork(server, worker):
    # In the master: the new worker's slot (None if all are taken: it accepts freely).
    free = [i for i, count in enumerate(_connections) if count == _FREE]
    worker.serving_slot = free[0] if free else None
    if free:
        _connections[free[0]] = 0
    worker.serving_connections = _connections


def child_exit(server, worker):
    # In the master, once the worker has exited (a reload's old workers used another block).
    if worker.serving_connections is _connections and worker.serving_slot is not None:
        _connections[worker.serving_slot] = _FREE


def post_worker_init(worker):
    # In the worker, once gevent has patched it and the app is loaded.
    if worker.cfg.worker_class_str == "gevent" and worker.serving_slot is not None:
        from oms.core.serving import balance_accepts

        balance_accepts(worker, worker.serving_connections, worker.serving_slot)
