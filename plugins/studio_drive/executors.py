"""Where candidate evaluations run: one interface, local processes by default, Ray to spread
them over a cluster.

An executor is made with a ``setup`` function and its arguments, run once in each worker
(``agent.setup_worker`` builds the world model there); then ``imap(fn, items)`` runs
``fn(item)`` in the workers and yields ``(index, result)`` as each finishes, and ``map`` returns
the results in order. ``fn`` must be a module-level function. What crosses between processes is
plain data (numpy arrays, numbers, strings) that this process sent to its own workers.

- ``InProcessExecutor``: in this process (one worker; no start-up cost).
- ``LocalExecutor``: a pool of worker processes on this machine (one per core by default).
- ``RayExecutor``: one actor per CPU of a Ray cluster (``--ray auto``: the cluster this machine
  belongs to; ``--ray HOST:PORT`` or ``ray://HOST:PORT``: that one; ``--ray local``: a private
  Ray instance started here). An address that does not answer is a one-line error after a few
  seconds, never a hang.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from studio.errors import UserError

CONNECT_TIMEOUT_S = 5.0  # to open a TCP connection to a Ray address
INIT_TIMEOUT_S = 60.0  # for ray.init once the address answers


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Executor:
    """Runs ``fn(item)`` for many items in its workers."""

    name = "executor"
    workers = 1

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any],
             tick: float | None = None) -> Iterator[tuple[int, Any] | None]:
        """``(index, result)`` for each item as it finishes; with ``tick`` also ``None`` every
        ``tick`` seconds while waiting, so that the caller can report progress or stop."""
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        out: list[Any] = [None] * len(items)
        for done in self.imap(fn, items):
            assert done is not None
            out[done[0]] = done[1]
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class InProcessExecutor(Executor):
    """Runs everything here, in order, on one thread as a worker process would (small batches
    on two threads spin in each other's way on a shared machine); ``close`` gives the thread
    count back."""

    name = "local"

    def __init__(self, setup: Callable[..., None] | None = None, setup_args: tuple = ()):
        import torch

        self.threads = torch.get_num_threads()
        if setup is not None:
            setup(*setup_args, threads=1)

    def imap(self, fn, items, tick=None):
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        import torch

        torch.set_num_threads(self.threads)


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (started with ``spawn``, so nothing of
    this process's threads is copied), each running ``setup(*setup_args)`` once and computing
    with one thread."""

    name = "local"

    def __init__(self, workers: int = 0, setup: Callable[..., None] | None = None,
                 setup_args: tuple = ()):
        self.workers = workers if workers > 0 else cpu_count()
        self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                           initializer=_init_local, initargs=(setup, setup_args))

    def imap(self, fn, items, tick=None):
        futures = {self.pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(futures)
        try:
            while pending:
                done, pending = cf.wait(pending, timeout=tick, return_when=cf.FIRST_COMPLETED)
                if not done:
                    yield None
                for f in done:
                    yield futures[f], _result(f)
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:  # a chunk under way would hold the pool until it ends
            with contextlib.suppress(Exception):
                p.terminate()
        for p in processes:
            with contextlib.suppress(Exception):
                p.join(5)


def _init_local(setup: Callable[..., None] | None, args: tuple) -> None:
    if setup is not None:
        setup(*args, threads=1)


def _result(f: cf.Future) -> Any:
    try:
        return f.result()
    except cf.process.BrokenProcessPool:
        raise RuntimeError("a worker process died (out of memory?)") from None


class RayExecutor(Executor):
    """One actor per CPU of a Ray cluster, each running ``setup(*setup_args)`` once."""

    name = "ray"

    def __init__(self, address: str, workers: int = 0,
                 setup: Callable[..., None] | None = None, setup_args: tuple = ()):
        import ray

        self.started_here = connect_ray(address, workers)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = min(workers, cpus) if workers > 0 else max(1, cpus)
        shared = ray.put(setup_args)
        actor = ray.remote(num_cpus=1)(_RayWorker)
        self.actors = [actor.remote(setup, shared) for _ in range(self.workers)]

    def imap(self, fn, items, tick=None):
        import ray

        queue = list(enumerate(items))
        running: dict[Any, tuple[int, Any]] = {}
        idle = list(self.actors)
        try:
            while queue or running:
                while idle and queue:
                    i, item = queue.pop(0)
                    a = idle.pop()
                    running[a.run.remote(fn, item)] = (i, a)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=tick)
                if not ready:
                    yield None
                    continue
                for ref in ready:
                    i, a = running.pop(ref)
                    idle.append(a)
                    yield i, _ray_result(ref)
        finally:
            for ref in running:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def close(self) -> None:
        import ray

        for a in getattr(self, "actors", []):
            with contextlib.suppress(Exception):
                ray.kill(a)
        self.actors = []
        if getattr(self, "started_here", False):
            ray.shutdown()


class _RayWorker:
    def __init__(self, setup: Callable[..., None] | None, args: tuple):
        if setup is not None:
            setup(*args, threads=1)

    def run(self, fn: Callable[[Any], Any], item: Any) -> Any:
        return fn(item)


def _ray_result(ref: Any) -> Any:
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the worker's own error, as one line
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        raise RuntimeError(f"a Ray worker failed: {_first_line(cause)}") from None
    except ray.exceptions.RayError as exc:
        raise RuntimeError(f"Ray: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _host_port(address: str) -> tuple[str, int]:
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--ray {address}: give auto, local, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def connect_ray(address: str, cpus: int = 0) -> bool:
    """Connects this process to Ray (unless it is already); returns whether it started a Ray
    instance of its own ("local"), which ``close`` shuts down again."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'ray[default]'") from None
    if ray.is_initialized():
        return False
    quiet = dict(logging_level="WARNING", log_to_driver=False)
    if address == "local":
        ray.init(num_cpus=cpus if cpus > 0 else cpu_count(), include_dashboard=False,
                 object_store_memory=200 * 1024 * 1024, **quiet)
        return True
    if address != "auto":
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or exc)
            raise UserError(f"--ray {address}: no Ray cluster answers there ({reason})") from None
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, **quiet)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    t = threading.Thread(target=init, daemon=True, name="ray-init")
    t.start()
    t.join(INIT_TIMEOUT_S)
    if t.is_alive():
        raise UserError(f"--ray {address}: the cluster did not answer within "
                        f"{INIT_TIMEOUT_S:.0f} s")
    if failure:
        raise UserError(f"--ray {address}: {_first_line(failure[0])}")
    return False


def make_executor(ray: str | None = None, workers: int = 0,
                  setup: Callable[..., None] | None = None, setup_args: tuple = ()) -> Executor:
    """Ray when ``ray`` names a cluster (auto, local, HOST:PORT), else local processes
    (``workers`` of them, 0: one per core; 1: this process)."""
    if ray:
        return RayExecutor(ray.strip(), workers, setup, setup_args)
    n = workers if workers > 0 else cpu_count()
    if n == 1:
        return InProcessExecutor(setup, setup_args)
    return LocalExecutor(n, setup, setup_args)
