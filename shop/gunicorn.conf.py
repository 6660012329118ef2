"""gunicorn settings for the shop: `gunicorn -c shop/gunicorn.conf.py 'shop:create_app()'`.

Workers and threads were chosen by measurement on a 2-CPU box (docs/shop.md): the shop is
mostly waiting on MariaDB, so a few processes with a few threads each keep both CPUs busy.
Every value can be overridden from the environment or the gunicorn command line (-b, -w, ...).
"""

import os
import shutil
import tempfile

# prometheus_client picks its value class (in memory, or files shared by the workers) once,
# when it is first imported, from PROMETHEUS_MULTIPROC_DIR. The workers are forked from this
# process, so the variable must be set here before anything imports prometheus_client: this
# file imports it only inside the hooks below, and the folder is set up first.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shop-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
# Files of an earlier run would be summed too: start empty.
os.makedirs(_metrics_dir, exist_ok=True)
for _name in os.listdir(_metrics_dir):
    if _name.endswith(".db"):
        os.remove(os.path.join(_metrics_dir, _name))

bind = os.environ.get("SHOP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SHOP_WORKERS", "4"))
threads = int(os.environ.get("SHOP_THREADS", "4"))
worker_class = os.environ.get("SHOP_WORKER_CLASS", "gthread")
worker_connections = int(os.environ.get("SHOP_WORKER_CONNECTIONS", "200"))
# One pooled connection per thread, plus a little overflow for /readyz and the odd burst.
os.environ.setdefault("SHOP_DB_POOL_SIZE", str(threads))
os.environ.setdefault("SHOP_DB_MAX_OVERFLOW", "2")
timeout = 30
graceful_timeout = 20
keepalive = 5
backlog = 2048
accesslog = os.environ.get("SHOP_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("SHOP_LOG_LEVEL", "info")
proc_name = "shop"
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): a second
# shop on the machine would take over the first one's. Off unless a path for this instance
# is given.
if os.environ.get("SHOP_CONTROL_SOCKET"):
    control_socket = os.environ["SHOP_CONTROL_SOCKET"]
else:
    control_socket_disable = True


def when_ready(server):
    # The workers' /metrics sums the process metrics of the arbiter and its children.
    os.environ["SHOP_GUNICORN_PID"] = str(server.pid)


def child_exit(server, worker):
    # A dead worker's live gauges must stop counting towards the sums.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
