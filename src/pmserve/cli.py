"""``pmserve ...``: serve, manage access keys and models in the local store, score files locally."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shlex
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import click

from pmserve.errors import DataError, NotFoundError, PmserveError
from pmserve.formats import Scorable, load_model
from pmserve.service import Service, Tenant, passthrough_columns
from pmserve.settings import Settings
from pmserve.store import open_store

QUICKSTART = "quickstart"
SAMPLE_ID = "iris"
_KEY_FILE = "quickstart.key"


class _Cli(click.Group):
    """Turn pmserve's own errors into a one-line message and exit status 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PmserveError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=_Cli)
@click.version_option(package_name="pmserve")
def main() -> None:
    """pmserve: deploy predictive models (PMML) and score them over IBM's /pm/v1 REST API.

    Settings come from PMSERVE_* environment variables (PMSERVE_DATA_DIR, PMSERVE_STORE_URL, ...).
    """


def _service() -> Service:
    settings = Settings.from_env()
    return Service(settings, open_store(settings))


@contextlib.contextmanager
def _opened() -> Iterator[Service]:
    service = _service()
    try:
        yield service
    finally:
        service.close()


# -- serve ----------------------------------------------------------------------------------------

@main.command()
@click.option("--host", help="Address to listen on (PMSERVE_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (PMSERVE_PORT, default 8080).")
@click.option("--workers", type=int, help="Worker processes (PMSERVE_WORKERS, default 1).")
@click.option("--quickstart", is_flag=True,
              help="Make sure a 'quickstart' key and the sample model 'iris' exist; print how to call them.")
def serve(host: str | None, port: int | None, workers: int | None, quickstart: bool) -> None:
    """Start the HTTP service."""
    from pmserve.api import configure_logging, create_app
    from pmserve.api._server import run

    settings = Settings.from_env(host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    if quickstart:
        _quickstart(settings)
    # uvicorn's own access log would print the query string, i.e. the access key: pmserve logs
    # every request itself, without it (run() turns uvicorn's access log off).
    if settings.workers > 1:
        run(settings, "pmserve.api:create_app_from_env")
    else:
        run(settings, create_app(settings))


def _quickstart(settings: Settings) -> None:
    service = Service(settings, open_store(settings))
    try:
        key = _quickstart_key(service, settings.data_dir / _KEY_FILE)
        tenant = service.tenant_of_key_name(QUICKSTART)
        if service.store.current(tenant.name, SAMPLE_ID) is None:
            sample = resources.files("pmserve.samples").joinpath("iris.pmml").read_bytes()
            service.deploy(tenant, SAMPLE_ID, "iris.pmml", sample)
    finally:
        service.close()
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{shown}:{settings.port}/pm/v1"
    body = ('{"tablename":"scoreInput","header":["sepal_length","sepal_width","petal_length","petal_width"],'
            '"data":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}')
    click.echo(f"pmserve {settings.host}:{settings.port}, data in {settings.data_dir.resolve()}")
    click.echo(f"URL:        {base}")
    click.echo(f"Access key: {key}")
    click.echo(f"Sample model deployed as context id '{SAMPLE_ID}'. Score it:")
    click.echo(f"  curl -s -X POST -H 'Content-Type: application/json' "
               f"'{base}/score/{SAMPLE_ID}?accesskey={key}' -d {shlex.quote(body)}")
    click.echo(f"  export PMSERVE_URL={base} PMSERVE_KEY={key}")


def _quickstart_key(service: Service, path: Path) -> str:
    """The quick-start key: reused from its 0600 file while it is still valid, else made anew."""
    with contextlib.suppress(OSError):
        key = path.read_text().strip()
        if key and service.key_is_active(key):
            return key
    with contextlib.suppress(NotFoundError):
        service.revoke_key(QUICKSTART)  # its file was lost: only its hash is stored, so replace it
    existing = {r.name for r in service.list_keys()}
    name = QUICKSTART
    # A revoked key keeps its name; the tenant stays "quickstart" so the sample stays reachable.
    suffix = 2
    while name in existing:
        name, suffix = f"{QUICKSTART}-{suffix}", suffix + 1
    key = service.create_key(name, tenant=QUICKSTART)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


# -- keys -----------------------------------------------------------------------------------------

@main.group()
def keys() -> None:
    """Manage access keys (each key's tenant owns the models deployed with it)."""


@keys.command("create")
@click.option("--name", required=True, help="A name for the key, e.g. the application using it.")
@click.option("--tenant", help="Share the models of this tenant (default: a new tenant named like the key).")
def keys_create(name: str, tenant: str | None) -> None:
    """Create a key; it is printed once, alone on the last line (only its hash is kept)."""
    with _opened() as service:
        key = service.create_key(name, tenant)
    click.echo(f"Created access key {name!r} for tenant {tenant or name!r}. "
               "Keep it: it cannot be shown again.")
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys (names, tenants, dates; never the keys themselves)."""
    with _opened() as service:
        records = service.list_keys()
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        click.echo(f"{r.name}\ttenant={r.tenant}\tcreated {r.created_at}\t{state}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key NAME: it stops working at once."""
    with _opened() as service:
        service.revoke_key(name)
    click.echo(f"revoked {name!r}")


# -- models in the local store --------------------------------------------------------------------

def _tenant_options(f: Any) -> Any:
    f = click.option("--tenant", help="The tenant that owns the models.")(f)
    return click.option("--key-name", help="Act as the tenant of this access key.")(f)


def _tenant(service: Service, key_name: str | None, tenant: str | None) -> Tenant:
    if key_name:
        return service.tenant_of_key_name(key_name)
    if tenant:
        return Tenant(tenant, "cli")
    raise click.UsageError("name the owner with --key-name NAME or --tenant TENANT")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "model_id", required=True, help="The context id to deploy under.")
@click.option("--tablename", help="Fix the input table name score requests must use (default: any).")
@_tenant_options
def deploy(file: Path, model_id: str, tablename: str | None, key_name: str | None,
           tenant: str | None) -> None:
    """Deploy (or refresh) a model file in the local store."""
    with _opened() as service:
        result = service.deploy(_tenant(service, key_name, tenant), model_id, file.name, file.read_bytes(),
                                tablename=tablename)
    verb = "deployed" if result.created else "refreshed"
    click.echo(f"{verb} {model_id!r} (version {result.record.version}, {result.record.size} bytes, "
               f"sha256 {result.record.sha256})")


@main.command()
@_tenant_options
def models(key_name: str | None, tenant: str | None) -> None:
    """List the deployed models of a tenant."""
    with _opened() as service:
        records = service.list_models(_tenant(service, key_name, tenant))
    for r in records:
        click.echo(f"{r.model_id}\t{r.filename}\tversion {r.version}\t{r.size} bytes\t{r.created_at}\t"
                   f"by {r.created_by}")


@main.command()
@click.argument("model_id")
@_tenant_options
def undeploy(model_id: str, key_name: str | None, tenant: str | None) -> None:
    """Delete a deployed model and its kept versions."""
    with _opened() as service:
        service.delete(_tenant(service, key_name, tenant), model_id)
    click.echo(f"undeployed {model_id!r}")


# -- local scoring --------------------------------------------------------------------------------

@main.command()
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the scored CSV ('-' for standard output).")
@click.option("--na", "na_values", multiple=True,
              help="An extra missing-value marker (repeatable: --na NA --na N/A); empty cells always are.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first record that cannot be scored.")
@click.option("--chunk-size", type=click.IntRange(1), default=10_000, show_default=True,
              help="Records scored at once.")
def score(model_file: Path, input_csv: Path, output: Path, na_values: tuple[str, ...], fail_fast: bool,
          chunk_size: int) -> None:
    """Score INPUT_CSV with MODEL_FILE locally (no server).

    The output holds the input columns, then the model's results (as the /pm/v1 score reply), then
    'error': the reason a record could not be scored (its result cells are left empty).
    """
    model = load_model(model_file.name, model_file.read_bytes())
    missing = {"", *na_values}
    out: TextIO
    with open(input_csv, newline="", encoding="utf-8-sig") as src, \
            (contextlib.nullcontext(sys.stdout) if str(output) == "-"
             else open(output, "w", newline="", encoding="utf-8")) as out:
        failed = _score_csv(model, src, out, missing, fail_fast, chunk_size, input_csv.stat().st_size)
    if failed:
        click.echo(f"{failed} record(s) could not be scored; see the 'error' column", err=True)


def _score_csv(model: Scorable, src: TextIO, out: TextIO, missing: set[str], fail_fast: bool,
               chunk_size: int, size: int) -> int:
    reader = csv.reader(src)
    header = next(reader, None)
    if header is None:
        raise DataError("the input CSV is empty; expected a header row")
    writer = csv.writer(out, lineterminator="\n")
    names = [f.name for f in model.output_fields]
    keep = passthrough_columns(header, names)
    writer.writerow([*(header[i] for i in keep), *names, "error"])
    width = len(model.output_fields)
    failed = 0
    offset = 0
    show = sys.stderr.isatty()
    with click.progressbar(length=size, label="scoring", file=sys.stderr) if show \
            else contextlib.nullcontext() as bar:
        while True:
            rows = _chunk(reader, chunk_size, len(header), offset)
            if not rows:
                break
            columns = {name: [None if r[i] in missing else r[i] for r in rows]
                       for i, name in enumerate(header)}
            scored = model.score(columns, errors="collect")
            results = scored.rows()
            for i, (full_row, res) in enumerate(zip(rows, results, strict=True)):
                row = full_row if len(keep) == len(header) else [full_row[j] for j in keep]
                err = scored.errors.get(i)
                if err is not None:
                    message = _renumber(err, offset)
                    if fail_fast:
                        out.flush()
                        raise DataError(f"record {offset + i + 1} cannot be scored: {message}",
                                        row=offset + i)
                    failed += 1
                    writer.writerow([*row, *([""] * width), message])
                else:
                    writer.writerow([*row, *(_cell(v) for v in res), ""])
            offset += len(rows)
            if bar is not None:
                bar.update(sum(len(",".join(r)) + 1 for r in rows))
    return failed


def _chunk(reader: Any, size: int, width: int, offset: int) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in reader:
        if len(row) != width:
            if not row:
                continue  # a blank line
            raise DataError(f"record {offset + len(rows) + 1} has {len(row)} values but the header names "
                            f"{width} columns", row=offset + len(rows))
        rows.append(row)
        if len(rows) == size:
            break
    return rows


def _renumber(err: DataError, offset: int) -> str:
    """The engine counts rows within a chunk; report them within the whole file."""
    if err.row is None or offset == 0:
        return err.message
    return err.message.replace(f"(row {err.row + 1})", f"(row {offset + err.row + 1})")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        # A list-valued result (selectAll, association rule items) is one cell: a JSON array,
        # as the /pm/v1 reply writes it.
        return json.dumps(list(value))
    return value

