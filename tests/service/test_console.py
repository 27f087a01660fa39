"""The web console: its page and JSON view in-process, and the analyst's whole round in a real
headless Chromium (Debian's package, driven by Playwright; skipped where either is absent)."""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from tests.service.conftest import Keys, RunningServer

from pmserve.api import create_app
from pmserve.service import Service
from pmserve.settings import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What this machine's Chromium needs headless as root with no network (the env guide's flags).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_root_redirects_to_the_console(asgi_client: TestClient) -> None:
    """`/` sends a browser to `/console/`."""
    reply = asgi_client.get("/", follow_redirects=False)
    assert reply.status_code == 307
    assert reply.headers["location"] == "/console/"


def test_console_page_is_served_without_a_key_and_loads_nothing_remote(asgi_client: TestClient) -> None:
    """The page needs no key to load, and its policy allows only this server's own files."""
    reply = asgi_client.get("/console/")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in reply.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "http" not in reply.text.split("<body>")[0].replace('http-equiv', '')
    script = asgi_client.get("/console/static/console.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "sessionStorage" in script.text


def test_console_model_view_lists_fields_with_types_and_values(asgi_client: TestClient, keys: Keys,
                                                                iris_pmml: bytes) -> None:
    """The console's JSON view gives each input's type, measure and valid values or ranges."""
    asgi_client.put(f"/pm/v1/model/iris?accesskey={keys.alice}", files={"model_file": ("iris.pmml", iris_pmml)})
    reply = asgi_client.get(f"/console/api/models/iris?accesskey={keys.alice}")
    assert reply.status_code == 200
    body = reply.json()
    assert body["format"] == "pmml"
    assert body["stream"] == "iris.pmml"
    assert [f["name"] for f in body["inputs"]] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert all(f["measure"] == "continuous" for f in body["inputs"])
    assert body["outputs"][0]["name"] == "species"
    assert set(body["outputs"][0]["values"]) == {"setosa", "versicolor", "virginica"}


def test_console_model_view_refuses_a_missing_key_and_another_tenants_model(
        asgi_client: TestClient, keys: Keys, iris_pmml: bytes) -> None:
    """No key: 401; another tenant's context id: 404, as if it did not exist."""
    asgi_client.put(f"/pm/v1/model/iris?accesskey={keys.alice}", files={"model_file": ("iris.pmml", iris_pmml)})
    assert asgi_client.get("/console/api/models/iris").status_code == 401
    other = asgi_client.get(f"/console/api/models/iris?accesskey={keys.bob}")
    assert other.status_code == 404
    assert other.json()["flag"] is False


# -- a real browser ---------------------------------------------------------------------------------

@pytest.fixture
def browser_page(settings: Settings, service: Service) -> Iterator[tuple[object, str]]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with RunningServer(create_app(settings, service)) as server, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            yield context.new_page(), server.url
        finally:
            browser.close()


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.server
@pytest.mark.browser
def test_analyst_deploys_inspects_scores_and_deletes_a_model_in_the_browser(
        browser_page: tuple[object, str], keys: Keys, tmp_path: Path, iris_pmml: bytes) -> None:
    """Key, deploy by file, see the fields, score a form and pasted CSV, download, delete: all in Chromium."""
    from playwright.sync_api import Page, expect

    page, url = browser_page
    assert isinstance(page, Page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    expect(page.locator("#status")).to_contain_text("Enter an access key")

    page.fill("#key-input", keys.alice)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#no-models")).to_be_visible()
    expect(page.locator("#jobs-note")).to_have_text("No batch job yet.")

    model = tmp_path / "iris.pmml"
    model.write_bytes(iris_pmml)
    page.set_input_files("#deploy-file", str(model))
    expect(page.locator("#deploy-id")).to_have_value("iris")
    page.click("#deploy-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text("success to upload stream with given context id iris")
    expect(page.locator("#models tbody tr")).to_have_count(1)
    expect(page.locator("#inputs tbody tr")).to_have_count(4)
    expect(page.locator("#outputs tbody")).to_contain_text("virginica")

    record = {"sepal_length": "6.7", "sepal_width": "3.0", "petal_length": "5.2", "petal_width": "2.3"}
    for name, value in record.items():
        page.get_by_label(f"{name} (double)").fill(value)
    page.click("#score-form button[type=submit]")
    expect(page.locator("#result-table tbody tr")).to_have_count(1)
    expect(page.locator("#result-table thead")).to_contain_text("species")
    expect(page.locator("#result-table tbody")).to_contain_text("virginica")

    page.fill("#csv-rows", "petal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n2.3,5.2,3.0,6.7\n")
    page.click("#csv-form button[type=submit]")
    expect(page.locator("#result-table tbody tr")).to_have_count(2)
    expect(page.locator("#result-table tbody tr").first).to_contain_text("setosa")

    with page.expect_download() as download:
        page.click("#models tbody tr >> text=Download")
    assert Path(download.value.path()).read_bytes() == iris_pmml

    shot = page.screenshot(full_page=True)
    width, height = _png_size(shot)
    assert width == 1200
    assert height >= 900
    assert len(shot) > 20_000  # a rendered page, not a blank one

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#models tbody tr >> text=Delete")
    expect(page.locator("#status")).to_contain_text("Deleted iris.")
    expect(page.locator("#models tbody tr")).to_have_count(0)
    assert errors == []


@pytest.mark.server
@pytest.mark.browser
def test_a_refused_key_leaves_the_console_locked(browser_page: tuple[object, str]) -> None:
    """An unknown key is reported and forgotten; no model list appears."""
    from playwright.sync_api import Page, expect

    page, url = browser_page
    assert isinstance(page, Page)
    page.goto(url + "/console/")
    page.fill("#key-input", "not-a-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text("The access key was not accepted.")
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('pmserve.accesskey')") is None


@pytest.mark.server
@pytest.mark.browser
def test_swagger_ui_at_docs_renders_every_operation_offline(browser_page: tuple[object, str]) -> None:
    """/docs draws the API from /openapi.json with no request leaving this server."""
    from playwright.sync_api import Page, Route, expect

    page, url = browser_page
    assert isinstance(page, Page)
    remote: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(url + "/docs")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible(timeout=15_000)
    paths = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert any("/pm/v1/score/" in p for p in paths)
    assert len(paths) >= 15
    assert remote == []


@pytest.mark.server
@pytest.mark.browser
def test_console_lists_batch_jobs_with_their_status(browser_page: tuple[object, str], keys: Keys) -> None:
    """A job submitted through /pm/v1/jobs shows in the console with its action and status."""
    from playwright.sync_api import Page, expect

    page, url = browser_page
    assert isinstance(page, Page)
    job = {"action": "BATCH_SCORE", "model": {"id": "no-such-file", "name": "drug.str"},
           "setting": {"inputs": [{"node": "scoreInput", "file": {"id": "absent.csv", "format": "CSV"}}],
                       "exports": [{"node": "Table", "file": {"id": "scored.tab"}}], "reportFormat": "TAB"}}
    reply = httpx.post(f"{url}/pm/v1/jobs/nightly?accesskey={keys.alice}", json=job, timeout=30)
    assert reply.status_code == 200, reply.text
    page.goto(url + "/console/")
    page.fill("#key-input", keys.alice)
    page.click("#key-form button[type=submit]")
    row = page.locator("#jobs tbody tr[data-id=nightly]")
    expect(row).to_contain_text("BATCH_SCORE")
    expect(row).to_contain_text(re.compile(r"PENDING|RUNNING|FAILED"))
