"""``pmserve jobs ...``: submit, watch, cancel, list and fetch batch jobs on a running server.

The server's URL and an access key come from ``--url``/``--key`` or ``PMSERVE_URL``/``PMSERVE_KEY``
(the URL with or without ``/pm/v1``, as IBM's clients accepted).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

try:
    import httpx
except ImportError:  # pragma: no cover - the batch extra is not installed
    httpx = None  # type: ignore[assignment]

FINAL = ("SUCCESS", "FAILED", "CANCELED")


class Api:
    """The /pm/v1 batch endpoints of one server, with errors turned into one-line messages."""

    def __init__(self, url: str, key: str, timeout: float = 60.0) -> None:
        if httpx is None:
            raise click.ClickException("pmserve jobs needs httpx; install pmserve[batch]")
        base = url.rstrip("/")
        self.base = base if base.endswith("/pm/v1") else f"{base}/pm/v1"
        self.client = httpx.Client(timeout=timeout, params={"accesskey": key})

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            reply = self.client.request(method, f"{self.base}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach pmserve at {self.base}: {exc}") from exc
        if reply.status_code >= 400:
            try:
                message = reply.json().get("message", reply.text)
            except ValueError:
                message = reply.text
            raise click.ClickException(f"{method} {path}: HTTP {reply.status_code}: {message}")
        return reply

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()


@contextlib.contextmanager
def _api(ctx: click.Context) -> Iterator[Api]:
    url, key = ctx.obj["url"], ctx.obj["key"]
    if not url:
        raise click.UsageError("name the server with --url or PMSERVE_URL (e.g. http://127.0.0.1:8080/pm/v1)")
    if not key:
        raise click.UsageError("give an access key with --key or PMSERVE_KEY")
    api = Api(url, key)
    try:
        yield api
    finally:
        api.client.close()


@click.group()
@click.option("--url", envvar="PMSERVE_URL", help="The server, e.g. http://127.0.0.1:8080/pm/v1 (PMSERVE_URL).")
@click.option("--key", envvar="PMSERVE_KEY", help="An access key of the server (PMSERVE_KEY).")
@click.pass_context
def jobs(ctx: click.Context, url: str | None, key: str | None) -> None:
    """Batch jobs on a running server (/pm/v1/jobs and /pm/v1/file)."""
    ctx.obj = {"url": url, "key": key}


@jobs.command()
@click.argument("job_id")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--file", "files", multiple=True, metavar="ID=PATH",
              help="Upload PATH to the file store as ID first (repeatable: the model, an input file).")
@click.option("--replace", is_flag=True, help="PUT: resubmit a job id that exists (POST refuses it).")
@click.option("--wait", is_flag=True, help="Wait until the job ends; exit status 1 unless it succeeds.")
@click.pass_context
def submit(ctx: click.Context, job_id: str, definition: Path, files: tuple[str, ...], replace: bool,
           wait: bool) -> None:
    """Submit the job DEFINITION (a JSON file, reference §2.8) as JOB_ID."""
    try:
        body = orjson.loads(definition.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{definition} is not JSON: {exc}") from None
    with _api(ctx) as api:
        for spec in files:
            file_id, sep, path = spec.partition("=")
            if not sep or not file_id or not path:
                raise click.UsageError(f"--file takes ID=PATH; got {spec!r}")
            with open(path, "rb") as f:
                url = api.call("PUT", f"/file/{file_id}", files={"file": (Path(path).name, f)}).text
            click.echo(f"uploaded {path} as {url}", err=True)
        job = api.json("PUT" if replace else "POST", f"/jobs/{job_id}", content=orjson.dumps(body),
                       headers={"Content-Type": "application/json"})
        click.echo(f"submitted {job['id']}: {job['status']}", err=True)
        if wait:
            _finish(_wait(api, job_id))


@jobs.command()
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Wait until the job ends; exit status 1 unless it succeeds.")
@click.pass_context
def status(ctx: click.Context, job_id: str, wait: bool) -> None:
    """Print a job's status as JSON (jobStatus, rowsDone, rowsFailed, dataUrl, failureMsg)."""
    with _api(ctx) as api:
        if wait:
            _finish(_wait(api, job_id))
        else:
            click.echo(orjson.dumps(api.json("GET", f"/jobs/{job_id}/status")).decode())


@jobs.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Stop a job (it ends CANCELED and keeps its record)."""
    with _api(ctx) as api:
        click.echo(api.json("POST", f"/jobs/{job_id}/cancel")["jobStatus"])


@jobs.command(name="list")
@click.pass_context
def list_jobs(ctx: click.Context) -> None:
    """One line per job: id, status, rows done, rows failed, created (UTC)."""
    with _api(ctx) as api:
        for job in api.json("GET", "/jobs"):
            progress = job.get("progress", {})
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job["createdAt"] / 1000))
            click.echo(f"{job['id']}\t{job['status']}\t{progress.get('rowsDone', 0)}\t"
                       f"{progress.get('rowsFailed', 0)}\t{created}")


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_context
def delete(ctx: click.Context, job_ids: tuple[str, ...]) -> None:
    """Delete jobs (running ones are stopped); prints how many were deleted."""
    with _api(ctx) as api:
        click.echo(api.call("DELETE", f"/jobs/{','.join(job_ids)}").text)


@jobs.command()
@click.argument("job_id")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the job's output ('-' for standard output).")
@click.pass_context
def fetch(ctx: click.Context, job_id: str, output: Path) -> None:
    """Download the output of a finished job (its status's dataUrl)."""
    with _api(ctx) as api:
        state = api.json("GET", f"/jobs/{job_id}/status")
        if state["jobStatus"] != "SUCCESS" or "dataUrl" not in state:
            why = f": {state['failureMsg']}" if state.get("failureMsg") else ""
            raise click.ClickException(f"job {job_id!r} is {state['jobStatus']} and has no output to fetch{why}")
        file_id = state["dataUrl"].rsplit("/", 1)[-1]
        with api.client.stream("GET", f"{api.base}/file/{file_id}") as reply:
            if reply.status_code != 200:
                raise click.ClickException(f"GET {state['dataUrl']}: HTTP {reply.status_code}")
            with (contextlib.nullcontext(sys.stdout.buffer) if str(output) == "-" else open(output, "wb")) as out:
                for chunk in reply.iter_bytes():
                    out.write(chunk)


def _wait(api: Api, job_id: str) -> dict[str, Any]:
    while True:
        state: dict[str, Any] = api.json("GET", f"/jobs/{job_id}/status")
        if state["jobStatus"] in FINAL:
            return state
        time.sleep(0.5)


def _finish(state: dict[str, Any]) -> None:
    click.echo(orjson.dumps(state).decode())
    if state["jobStatus"] != "SUCCESS":
        raise SystemExit(1)
