"""Fixtures for the service tests: settings in a temp dir, stores, keys, in-process and real servers."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from pmserve.api import create_app
from pmserve.service import Service, Tenant
from pmserve.settings import Settings
from pmserve.store import SQLiteStore, Store

POSTGRES_DSN = os.environ.get("PMSERVE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

# The in-process client (Starlette's TestClient) and the real-server client (httpx) share one API.
Client = httpx.Client | TestClient
IRIS_HEADER = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def linear_pmml(intercept: float, *, model_name: str = "linear") -> bytes:
    """A one-input regression model y = intercept + x: the intercept tells versions apart."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary numberOfFields="2">
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel modelName="{model_name}" functionName="regression">
    <MiningSchema>
      <MiningField name="x"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <RegressionTable intercept="{intercept!r}">
      <NumericPredictor name="x" coefficient="1"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
""".encode()


def select_all_pmml() -> bytes:
    """A selectAll MiningModel: y is the list [1 + x, 10 + x (where x > 0)] per record."""
    def segment(intercept: float, predicate: str) -> str:
        return f"""<Segment>{predicate}<RegressionModel functionName="regression">
          <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
          <RegressionTable intercept="{intercept!r}"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
        </RegressionModel></Segment>"""

    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <MiningModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Segmentation multipleModelMethod="selectAll">
      {segment(1.0, "<True/>")}
      {segment(10.0, '<SimplePredicate field="x" operator="greaterThan" value="0"/>')}
    </Segmentation>
  </MiningModel>
</PMML>""".encode()


@pytest.fixture(scope="session")
def iris_pmml() -> bytes:
    return resources.files("pmserve.samples").joinpath("iris.pmml").read_bytes()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_upload_mb=1.0)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway schema in the test PostgreSQL database, dropped afterwards; skip when unreachable."""
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(POSTGRES_DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} is unreachable: {exc}")
    schema = f"pmserve_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_DSN else "?"
    yield f"{POSTGRES_DSN}{sep}schema={schema}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store implementation in turn (the contract suite runs against both)."""
    if request.param == "sqlite":
        made: Store = SQLiteStore(tmp_path / "store")
    else:
        from pmserve.store._postgres import PostgresStore

        made = PostgresStore(request.getfixturevalue("postgres_url"))
    yield made
    made.close()


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    made = Service(settings, SQLiteStore(settings.data_dir))
    yield made
    made.close()


class Keys:
    """Two tenants' keys for the same running app."""

    def __init__(self, service: Service) -> None:
        self.alice = service.create_key("alice")
        self.bob = service.create_key("bob")
        self.alice_tenant = Tenant("alice", "alice")


@pytest.fixture
def keys(service: Service) -> Keys:
    return Keys(service)


@pytest.fixture
def asgi_client(settings: Settings, service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service), base_url="http://testserver") as client:
        wait_warm(service)
        yield client


def wait_warm(service: Service, seconds: float = 60.0) -> None:
    """Wait for the app's start-up warm-up (it runs on a thread while the app already answers)."""
    deadline = time.monotonic() + seconds
    while not service.warm:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service did not finish warming up within {seconds:g} s")
        time.sleep(0.01)


class RunningServer:
    """A real uvicorn server in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any, **options: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                ws="none", lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def server_client(settings: Settings, service: Service) -> Iterator[httpx.Client]:
    with RunningServer(create_app(settings, service)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        wait_warm(service)
        yield client


@pytest.fixture(params=["asgi", pytest.param("server", marks=pytest.mark.server)])
def client(request: pytest.FixtureRequest) -> Client:
    """The app in-process (Starlette TestClient) and behind a real uvicorn server."""
    fixture = "asgi_client" if request.param == "asgi" else "server_client"
    made: Client = request.getfixturevalue(fixture)
    return made
