"""Pool workers end themselves when the service that started them dies, however it died.

Who is whose parent under the ``forkserver`` start method: the service starts the fork server and
the resource tracker (its children); the fork server forks the pool's workers (its children, the
service's grandchildren). A parent-death signal (``prctl(PR_SET_PDEATHSIG)``) would therefore tell a
worker about the fork server, not the service, and the fork server's own would fire when the
*thread* that started it ends (the service builds its pool in a warm-up thread). Neither fits.

What fits is the pipe the standard library keeps for this: a ``multiprocessing`` child's
``parent_process().sentinel`` is the read end of a pipe whose only write end the requesting
process (the service) holds, so it turns readable (EOF) the moment the service is gone, SIGKILL
and the OOM killer included. :func:`watch_parent`, the pool's initializer, waits on it in a
daemon thread and ends the worker with :data:`EXIT_PARENT_GONE`. Once the service and its workers
are gone, the fork server (its "alive" pipe) and the resource tracker (its command pipe) read EOF
too, because only the service and the workers held those pipes' write ends, and both exit on
their own. A clean shutdown (SIGTERM) is unchanged: the pool is shut down before the service exits.

With ``python -m api --workers N`` each uvicorn worker is itself a ``multiprocessing`` child of
uvicorn's supervisor and owns a pool; :func:`stop_when_parent_dies` sends such a worker SIGTERM
when the supervisor dies, so it shuts down cleanly (pool included) instead of running on alone.
"""
from __future__ import annotations

import logging
import multiprocessing
import signal
import multiprocessing.connection
import os
import threading

log = logging.getLogger(__name__)

#: Exit status of a worker whose service died (BSD EX_SOFTWARE-style: not a success, not a crash).
EXIT_PARENT_GONE = 70
#: Name of the watching thread (visible in py-spy and thread dumps).
THREAD_NAME = "parent-watch"


def _exit_when_ready(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(EXIT_PARENT_GONE)  # no cleanup to run: the results have nowhere to go


def watch_parent() -> bool:
    """In a ``multiprocessing`` child: exit as soon as the process that started it dies.

    Returns False (and does nothing) in a process not started by ``multiprocessing``. Safe to use
    as a pool ``initializer``: it never raises.
    """
    try:
        parent = multiprocessing.parent_process()
        if parent is None or parent.sentinel is None:
            return False
        threading.Thread(target=_exit_when_ready, args=(parent.sentinel,), name=THREAD_NAME, daemon=True).start()
        return True
    except Exception:  # an initializer that raises would break the whole pool
        log.exception("could not watch the parent process; this worker may outlive the service")
        return False


def _terminate_when_ready(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    log.warning("the parent process %s is gone: shutting down", multiprocessing.parent_process().pid)
    os.kill(os.getpid(), signal.SIGTERM)


def stop_when_parent_dies() -> bool:
    """In a ``multiprocessing`` child that shuts down cleanly on SIGTERM (a uvicorn worker): send
    ourselves SIGTERM when the parent dies. False (nothing done) in a process without such a parent."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return False
    threading.Thread(target=_terminate_when_ready, args=(parent.sentinel,), name=THREAD_NAME, daemon=True).start()
    return True
