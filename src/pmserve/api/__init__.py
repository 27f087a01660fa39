"""pmserve's HTTP layer: a Starlette app (answering /pm/v1/score itself, see :mod:`pmserve.api._score_route`)
built by :func:`create_app` from a :class:`Settings`.

Adapters only: ``/pm/v1`` (IBM Predictive Analytics compatible) and ``/health`` + ``/ready``.
Errors become HTTP replies through the one table in :mod:`pmserve.api.errors`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmserve import metrics
from pmserve.api import _access_log, _batch, _console, _openapi, _pmv1
from pmserve.api._access_log import AccessLog
from pmserve.api._score_route import PmserveApp
from pmserve.batch import BatchService, JobRunner
from pmserve.errors import PmserveError
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import open_store

__all__ = ["configure_logging", "create_app", "create_app_from_env"]

log = logging.getLogger("pmserve.api")


def create_app(settings: Settings, service: Service | None = None, *, freeze_after_warm_up: bool = False) -> Starlette:
    """The ASGI app.  It opens the store named by ``settings`` unless a service is given.

    ``freeze_after_warm_up``: once warm, move every object of the process out of the garbage
    collector's sight (``gc.freeze``) - for a server process, which holds one app for its life
    (not for tests, which build many apps in one process and would keep each one for good).
    """
    service = service or Service(settings, open_store(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Listen at once: the compiled kernels load and every deployed model compiles (restart
        # recovery) on a thread of their own, while /health answers and /ready says 503 until
        # they are done.  A request meanwhile compiles what it needs itself.  Daemon: a stop
        # during warm-up does not wait for it.
        threading.Thread(target=_warm_up, args=(app, service, freeze_after_warm_up), name="pmserve-warm-up",
                         daemon=True).start()
        runner = app.state.runner = JobRunner(settings, service.store)  # batch jobs, run in threads
        runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)
            service.close()
            _access_log.flush()

    app = PmserveApp(
        routes=[*_pmv1.routes(), *_batch.routes(), Route("/health", health, methods=["GET"]),
                Route("/ready", ready, methods=["GET"]), Route("/metrics", metrics_endpoint, methods=["GET"]),
                *_console.routes(), *_openapi.routes()],
        middleware=[Middleware(AccessLog)],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.batch = BatchService(settings, service.store)
    app.state.openapi = _openapi.build(app.routes, metrics.package_version())
    app.state.settings = settings
    app.state.warm_up_error = None
    return app


def _warm_up(app: Starlette, service: Service, freeze: bool) -> None:
    try:
        service.warm_up()
    except Exception as exc:  # the thread's last resort: /ready reports it instead of waiting forever
        log.exception("warm-up failed")
        app.state.warm_up_error = f"{type(exc).__name__}: {exc}"
        return
    if not freeze:
        return
    # What start-up made (modules, numba's compiled kernels, the models: some 200,000 objects)
    # lives as long as the process: out of the collector's sight, a full collection no longer
    # walks them all (hundreds of ms) while requests wait - 10,000-row requests, whose rows
    # outlive the young generations, set one off every few requests.  Garbage first, so none
    # of it is kept for good.
    gc.collect()
    gc.freeze()


def create_app_from_env() -> Starlette:
    """Factory for worker processes (``uvicorn --factory``): settings from ``PMSERVE_*``."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_after_warm_up=True)


def configure_logging(level: str) -> None:
    """Plain lines on stderr; the access log lines are JSON already."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("pmserve")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


async def health(request: Request) -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


async def ready(request: Request) -> Response:
    service: Service = request.app.state.service
    body: dict[str, object] = {"models": service.loaded_models,
                               "failed": [f"{t}/{m}: {msg}" for (t, m), msg in service.failed_models.items()]}
    try:
        await run_in_threadpool(service.ping)
    except PmserveError as exc:
        return Response(orjson.dumps({"status": "store unavailable", "message": exc.message, **body}),
                        status_code=503, media_type="application/json")
    failed = getattr(request.app.state, "warm_up_error", None)
    if failed is not None:
        return Response(orjson.dumps({"status": "warm-up failed", "message": failed, **body}), status_code=503,
                        media_type="application/json")
    if not service.warm:
        return Response(orjson.dumps({"status": "loading models", **body}), status_code=503,
                        media_type="application/json")
    return Response(orjson.dumps({"status": "ready", **body}), media_type="application/json")


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus' text format; summed over worker processes when there are several."""
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)
