"""Start-up: the app answers at once while the kernels load and the deployed models compile."""

from __future__ import annotations

import gc
import threading

import pytest
from starlette.testclient import TestClient
from tests.service.conftest import wait_warm

from pmserve.api import create_app
from pmserve.service import Service
from pmserve.settings import Settings


def test_health_answers_and_ready_is_503_until_the_warm_up_ends(
        settings: Settings, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """/health is live during warm-up, /ready says 'loading models' (503), then 'ready' (200)."""
    release = threading.Event()
    warm_up = service.warm_up

    def held() -> None:
        release.wait(30)
        warm_up()

    monkeypatch.setattr(service, "warm_up", held)
    with TestClient(create_app(settings, service)) as client:
        assert client.get("/health").status_code == 200
        waiting = client.get("/ready")
        assert waiting.status_code == 503
        assert waiting.json()["status"] == "loading models"
        release.set()
        wait_warm(service)
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


def test_ready_reports_a_warm_up_that_failed(settings: Settings, service: Service,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error of the warm-up thread is /ready's 503 with its message, not a wait forever."""
    done = threading.Event()

    def broken() -> None:
        done.set()
        raise RuntimeError("no code generator")

    monkeypatch.setattr(service, "warm_up", broken)
    with TestClient(create_app(settings, service)) as client:
        assert done.wait(30)
        for _ in range(3000):  # the thread records the error right after raising it
            reply = client.get("/ready")
            if reply.json()["status"] != "loading models":
                break
        assert reply.status_code == 503
        assert reply.json()["status"] == "warm-up failed"
        assert "no code generator" in reply.json()["message"]
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize("freeze", [False, True])
def test_a_server_app_moves_what_start_up_made_out_of_the_collectors_sight(
        settings: Settings, service: Service, freeze: bool) -> None:
    """gc.freeze() once warm, only when asked (a server process; tests build many apps)."""
    gc.unfreeze()
    try:
        with TestClient(create_app(settings, service, freeze_after_warm_up=freeze)) as client:
            wait_warm(service)
            for _ in range(3000):  # the thread freezes right after the service says it is warm
                if not freeze or gc.get_freeze_count():
                    break
                client.get("/health")
            assert (gc.get_freeze_count() > 0) is freeze
    finally:
        gc.unfreeze()
