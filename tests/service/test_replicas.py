"""Three replicas sharing one store, refreshed under load and killed with SIGKILL (issue #10's attack).

Every reply that arrives is right and from one version (never a failure, never a mix of two
versions in one reply), and after every kill the store is consistent: the live version is one that
was deployed, its file is whole, and every replica serves it.  Run against SQLite (one data
directory) and PostgreSQL (a schema of this run).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.service.conftest import linear_pmml

from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import open_store

pytestmark = pytest.mark.slow

REPLICAS = 3
KILLS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Replica:
    """One ``pmserve serve`` process on its own port."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = {**env, "PMSERVE_PORT": str(port)}
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "pmserve", "serve"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.url} did not become ready")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replica_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSERVE_")}
    env.update({"PMSERVE_DATA_DIR": str(tmp_path / "data"), "PMSERVE_LOG_LEVEL": "warning"})
    if request.param == "postgres":
        env["PMSERVE_STORE_URL"] = request.getfixturevalue("postgres_url")
    return env


def test_refresh_under_load_and_sigkill_keep_replies_and_store_consistent(replica_env: dict[str, str]) -> None:
    """0 failed or mixed replies, and a consistent store after each kill -9, on 3 replicas."""
    settings = Settings.from_env(replica_env)
    service = Service(settings, open_store(settings))
    key = service.create_key("load")
    tenant = service.authenticate(key)
    service.deploy(tenant, "m", "m.pmml", linear_pmml(0.0))
    service.close()
    replicas = [Replica(replica_env, _free_port()) for _ in range(REPLICAS)]
    for r in replicas:
        r.start()
    deployed = {0.0}
    lock = threading.Lock()
    bad: list[str] = []
    answered = [0]
    stop = threading.Event()

    def load(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                r = rng.choice(replicas)
                try:
                    reply = client.post(f"{r.url}/pm/v1/score/m", params={"accesskey": key},
                                        json={"header": ["x"], "data": [[0.0], [1.0]]})
                except httpx.TransportError:
                    continue  # a killed replica: no reply, nothing to check
                with lock:
                    answered[0] += 1
                    if reply.status_code != 200:
                        bad.append(f"{reply.status_code} {reply.text[:200]}")
                        continue
                    y0, y1 = (row[-1] for row in reply.json()[0]["data"])
                    if y0 not in deployed or abs((y1 - y0) - 1.0) > 1e-9:
                        bad.append(f"mixed or unknown reply {y0}, {y1}")

    workers = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
    for w in workers:
        w.start()
    rng = random.Random(7)
    try:
        with httpx.Client(timeout=30) as client:
            for round_ in range(1, KILLS + 1):
                for step in range(3):
                    intercept = float(round_ * 10 + step)
                    with lock:
                        deployed.add(intercept)
                    target = rng.choice([r for r in replicas if r.process is not None])
                    reply = client.put(f"{target.url}/pm/v1/model/m", params={"accesskey": key},
                                       files={"model_file": ("m.pmml", linear_pmml(intercept))})
                    assert reply.json()["flag"] is True
                # A refresh in flight when its replica is killed: it lands whole or not at all.
                victim = rng.choice(replicas)
                intercept = float(round_ * 10 + 9)
                with lock:
                    deployed.add(intercept)
                racing = threading.Thread(target=_try_put, args=(victim.url, key, linear_pmml(intercept)),
                                          daemon=True)
                racing.start()
                time.sleep(rng.uniform(0.0, 0.02))
                victim.kill()
                racing.join(15)
                victim.start()
                _check_store(replicas, key, deployed)
        time.sleep(0.5)
    finally:
        stop.set()
        for w in workers:
            w.join(15)
        for r in replicas:
            r.kill()
    assert not bad, f"{len(bad)} bad of {answered[0]} replies: {bad[:5]}"
    assert answered[0] > 50


def _try_put(url: str, key: str, content: bytes) -> None:
    with contextlib.suppress(httpx.TransportError):
        httpx.put(f"{url}/pm/v1/model/m", params={"accesskey": key}, files={"model_file": ("m.pmml", content)},
                  timeout=10)


def _check_store(replicas: list[Replica], key: str, deployed: set[float]) -> None:
    """The live model is a deployed version, its file is whole, and every replica serves it."""
    first = httpx.get(f"{replicas[0].url}/pm/v1/model/m", params={"accesskey": key}, timeout=10)
    assert first.status_code == 200
    live = [float(t) for t in _intercepts(first.content)]
    assert len(live) == 1
    assert live[0] in deployed
    for r in replicas:
        reply = httpx.post(f"{r.url}/pm/v1/score/m", params={"accesskey": key},
                           json={"header": ["x"], "data": [[0.0]]}, timeout=10)
        assert reply.json()[0]["data"][0][-1] == pytest.approx(live[0])


def _intercepts(content: bytes) -> list[str]:
    text = content.decode()
    assert text.rstrip().endswith("</PMML>")  # a whole file
    return [part.split('"', 1)[0] for part in text.split('intercept="')[1:]]
