"""``pmserve ...``: serve, manage access keys and models in the local store, score files locally."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit, urlunsplit

import click
import pyarrow as pa
import pyarrow.parquet as pq

from pmserve import metrics
from pmserve.arrow import open_parquet, score_batch, scored_schema
from pmserve.batch.cli import jobs
from pmserve.errors import DataError, NotFoundError, PmserveError, RecordError
from pmserve.formats import RowTable, Scorable, StreamModel, TableScorable, load_model
from pmserve.pmml import Field
from pmserve.service import Service, Tenant, stream_limits
from pmserve.settings import Settings
from pmserve.spark import SparkSink, SparkSource, run_batch
from pmserve.store import SQLiteStore, open_store
from pmserve.tables import echoed_columns

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


main.add_command(jobs)  # pmserve jobs submit|status|cancel|list|delete|fetch (against a server)


def _service(*, existing: bool = False) -> Service:
    """The store the server uses (the same PMSERVE_* settings), named on standard error.

    A command that only reads or changes what is there (``existing``) refuses to create an empty
    store where none is: that happens when it is run from another folder than the server.
    """
    settings = Settings.from_env()
    if settings.store_url is None:
        where = settings.data_dir.resolve()
        if existing and not SQLiteStore.exists_in(where):
            raise click.ClickException(
                f"no pmserve store in {where}: run the command where the server keeps its data, or set "
                f"PMSERVE_DATA_DIR (or PMSERVE_STORE_URL) as for 'pmserve serve'")
        click.echo(f"pmserve: store {where} (PMSERVE_DATA_DIR)", err=True)
    else:
        click.echo(f"pmserve: store {_redacted(settings.store_url)} (PMSERVE_STORE_URL)", err=True)
    return Service(settings, open_store(settings))


def _redacted(url: str) -> str:
    """A store URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def _opened(*, existing: bool = False) -> Iterator[Service]:
    service = _service(existing=existing)
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
        # Each worker keeps its metrics in files there, and /metrics sums them (pmserve.metrics).
        if not os.environ.get(metrics.MULTIPROC_ENV):
            os.environ[metrics.MULTIPROC_ENV] = tempfile.mkdtemp(prefix="pmserve-metrics-")
        run(settings, "pmserve.api:create_app_from_env")
    else:
        run(settings, create_app(settings, freeze_after_warm_up=True))


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
    with _opened(existing=True) as service:
        records = service.list_keys()
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        click.echo(f"{r.name}\ttenant={r.tenant}\tcreated {r.created_at}\t{state}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key NAME: it stops working at once."""
    with _opened(existing=True) as service:
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
    with _opened(existing=True) as service:
        records = service.list_models(_tenant(service, key_name, tenant))
    for r in records:
        click.echo(f"{r.model_id}\t{r.filename}\tversion {r.version}\t{r.size} bytes\t{r.created_at}\t"
                   f"by {r.created_by}")


@main.command()
@click.argument("model_id")
@_tenant_options
def undeploy(model_id: str, key_name: str | None, tenant: str | None) -> None:
    """Delete a deployed model and its kept versions."""
    with _opened(existing=True) as service:
        service.delete(_tenant(service, key_name, tenant), model_id)
    click.echo(f"undeployed {model_id!r}")


# -- local scoring --------------------------------------------------------------------------------

#: File names that ``pmserve score`` reads and writes as Parquet; any other name is CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")


@main.command()
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("input_csv")
@click.option("-o", "--output", "output", required=True,
              help="Where to write the scored table ('-' for CSV on standard output).")
@click.option("--na", "na_values", multiple=True,
              help="An extra missing-value marker (repeatable: --na NA --na N/A); empty cells always are.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first record that cannot be scored.")
@click.option("--chunk-size", type=click.IntRange(1), default=10_000, show_default=True,
              help="Records scored at once.")
@click.option("--spark", "spark_master", metavar="MASTER",
              help="Score on Spark at MASTER (e.g. local[2]); INPUT and OUTPUT are then paths or URLs Spark "
                   "reads and writes (a folder of part files). Needs the 'spark' extra.")
def score(model_file: Path, input_csv: str, output: str, na_values: tuple[str, ...], fail_fast: bool,
          chunk_size: int, spark_master: str | None) -> None:
    """Score INPUT_CSV with MODEL_FILE locally (no server).

    The output holds the input columns, then the model's results (as the /pm/v1 score reply), then
    'error': the reason a record could not be scored (its result cells are left empty).  A file
    named *.parquet or *.pq (input or output) is Parquet, any other CSV.
    """
    if spark_master is not None:
        # Spark's paths may be URLs (hdfs://, s3a://) or globs: they are Spark's to resolve.
        _score_on_spark(spark_master, model_file, input_csv, output, na_values, fail_fast)
        return
    source, target = Path(input_csv), Path(output)
    if source.is_dir():
        raise click.UsageError(f"{input_csv} is a folder; only --spark reads folders")
    if not source.is_file():
        raise click.BadParameter(f"file {input_csv!r} does not exist", param_hint="'INPUT_CSV'")
    if output != "-":
        _check_output(source, target)
    model = load_model(model_file.name, model_file.read_bytes(), stream_limits=stream_limits(Settings.from_env()))
    missing = {"", *na_values}
    parquet = _is_parquet(input_csv) or _is_parquet(output)
    if isinstance(model, TableScorable) and parquet:
        raise click.UsageError("an SPSS Modeler stream is scored from CSV to CSV; give .csv files")
    # The output appears whole or not at all: written beside, renamed when every record is done.
    with contextlib.nullcontext(target) if output == "-" else _atomic(target) as written:
        if parquet:
            failed, total = _score_arrow(model, source, written, missing, fail_fast, chunk_size)
        else:
            out: TextIO
            with open(source, newline="", encoding="utf-8-sig") as src, \
                    (contextlib.nullcontext(sys.stdout) if output == "-"
                     else open(written, "w", newline="", encoding="utf-8")) as out:
                if isinstance(model, TableScorable):
                    _score_stream_csv(model, src, out, missing)
                    return
                failed, total = _score_csv(model, src, out, missing, fail_fast, chunk_size, source.stat().st_size)
    if failed and failed == total:
        raise click.ClickException(f"none of the {total} record(s) could be scored; the reasons are in the "
                                   f"'error' column of {output}")
    if failed:
        click.echo(f"{failed} of {total} record(s) could not be scored; see the 'error' column", err=True)


def _check_output(source: Path, target: Path) -> None:
    """Refuse an output that would destroy the input or cannot be written, before any work."""
    if target.exists() and target.resolve() == source.resolve():
        raise click.UsageError(f"the output {str(target)!r} is the input file; write the scores elsewhere")
    folder = target.parent
    if not folder.is_dir():
        raise click.UsageError(f"the output folder {str(folder)!r} does not exist")
    if target.is_dir():
        raise click.UsageError(f"the output {str(target)!r} is a folder; name a file")


@contextlib.contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed onto it when the block succeeds, removed if not."""
    # The suffix stays the target's: the writers choose Parquet or CSV by it.
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _score_stream_csv(model: TableScorable, src: TextIO, out: TextIO, missing: set[str]) -> None:
    """A stream reads its whole input table at once (its branch may select, append or add records)
    and writes what its terminal shows; a bad record stops it with the reason."""
    rows = list(csv.reader(src))
    if not rows:
        raise DataError("the input CSV is empty; expected a header row")
    data = [[None if cell in missing else cell for cell in row] for row in rows[1:] if row]
    reply = model.score_tables([RowTable(rows[0], data)])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(reply.header)
    writer.writerows([_cell(v) for v in row] for row in reply.data)


def _score_csv(model: Scorable, src: TextIO, out: TextIO, missing: set[str], fail_fast: bool,
               chunk_size: int, size: int) -> tuple[int, int]:
    """Score a CSV file chunk by chunk; (records that failed, records read)."""
    reader = csv.reader(src)
    header = next(reader, None)
    if header is None:
        raise DataError("the input CSV is empty; expected a header row")
    writer = csv.writer(out, lineterminator="\n")
    names = [f.name for f in model.output_fields]
    keep = echoed_columns(header, names)
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
                    message = err.render(offset)  # numbered within the whole file
                    if fail_fast:
                        out.flush()
                        raise RecordError(f"cannot be scored: {err.render(None)}", row=offset + i)
                    failed += 1
                    writer.writerow([*row, *([""] * width), message])
                else:
                    writer.writerow([*row, *(_cell(v) for v in res), ""])
            offset += len(rows)
            if bar is not None:
                bar.update(sum(len(",".join(r)) + 1 for r in rows))
    return failed, offset


@main.command()
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(model_file: Path) -> None:
    """Print what MODEL_FILE is: its format, a stream's scoring branch, the inputs and outputs."""
    model = load_model(model_file.name, model_file.read_bytes(), stream_limits=stream_limits(Settings.from_env()))
    click.echo(f"file:    {model_file.name}")
    click.echo(f"format:  {model.format}")
    if isinstance(model, StreamModel):
        info = model.info
        click.echo(f"stream:  {info.name!r} (Modeler {info.version or '?'})")
        how = "declared (scnScoringTerminalNode)" if info.declared else "found from the stream's one model nugget"
        click.echo(f"branch:  {how}")
        for i, node in enumerate(info.branch, start=1):
            click.echo(f"  {i}. {node}")
    if isinstance(model, TableScorable):
        scoring = model.tablenames if isinstance(model, StreamModel) else ()
        for name, fields in model.input_tables:
            role = "input table" if not scoring or name in scoring else "other source (not on the branch)"
            click.echo(f"{role} {name!r}:")
            _echo_fields(fields)
        click.echo("reply (what the terminal shows):")
    else:
        click.echo("inputs:")
        _echo_fields(model.input_fields)
        click.echo("outputs:")
    _echo_fields(model.output_fields)


def _echo_fields(fields: tuple[Field, ...]) -> None:
    for f in fields:
        values = f" {{{', '.join(f.values[:8])}{', ...' if len(f.values) > 8 else ''}}}" if f.values else ""
        click.echo(f"  {f.name}: {f.data_type.value}, {f.optype}{values}")


def _chunk(reader: Any, size: int, width: int, offset: int) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in reader:
        if len(row) != width:
            if not row:
                continue  # a blank line
            raise RecordError(f"has {len(row)} values but the header names {width} columns", row=offset + len(rows),
                              value=len(row))
        rows.append(row)
        if len(rows) == size:
            break
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.time):
        return value.isoformat()  # str() of a datetime has a space, not ISO 8601's 'T'
    if isinstance(value, list | tuple):
        # A list-valued result (selectAll, association rule items) is one cell: a JSON array,
        # as the /pm/v1 reply writes it.
        return json.dumps(list(value))
    return value


# -- Parquet (Arrow) and Spark --------------------------------------------------------------------

def _is_parquet(path: Path | str) -> bool:
    return str(path).lower().endswith(PARQUET_SUFFIXES)


def _score_arrow(model: Scorable, source: Path, output: Path, missing: set[str], fail_fast: bool,
                 chunk_size: int) -> tuple[int, int]:
    """Score through Arrow record batches: Parquet or CSV in, Parquet or CSV out."""
    with contextlib.ExitStack() as stack:
        schema, batches = (_parquet_batches(source, chunk_size) if _is_parquet(source)
                           else _csv_batches(stack, source, missing, chunk_size))
        write = _table_writer(stack, output, scored_schema(model, schema))
        failed = 0
        offset = 0
        for batch in batches:
            scored = score_batch(model, batch, offset=offset)
            if scored.errors and fail_fast:
                first = min(scored.errors)
                write(scored.batch.slice(0, first))
                raise RecordError(f"cannot be scored: {scored.errors[first].render(None)}", row=offset + first)
            write(scored.batch)
            failed += len(scored.errors)
            offset += batch.num_rows
    return failed, offset


def _parquet_batches(source: Path, chunk_size: int) -> tuple[Any, Iterator[Any]]:
    try:
        parquet = open_parquet(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{source} is not a readable Parquet file: {exc}") from exc
    return parquet.schema_arrow, parquet.iter_batches(batch_size=chunk_size)


def _csv_batches(stack: contextlib.ExitStack, source: Path, missing: set[str],
                 chunk_size: int) -> tuple[Any, Iterator[Any]]:
    """A CSV file's header as a schema of text columns, and its records as batches of them (read
    as the CSV-to-CSV path reads them: the model converts the text)."""
    src = stack.enter_context(open(source, newline="", encoding="utf-8-sig"))  # noqa: SIM115 (the stack closes it)
    reader = csv.reader(src)
    header = next(reader, None)
    if header is None:
        raise DataError("the input CSV is empty; expected a header row")
    schema = pa.schema([pa.field(name, pa.string()) for name in header])

    def batches() -> Iterator[Any]:
        offset = 0
        while rows := _chunk(reader, chunk_size, len(header), offset):
            columns = [pa.array([None if r[i] in missing else r[i] for r in rows], type=pa.string())
                       for i in range(len(header))]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
            offset += len(rows)

    return schema, batches()


def _table_writer(stack: contextlib.ExitStack, output: Path, schema: Any) -> Callable[[Any], None]:
    """A function writing scored batches to ``output``: Parquet, CSV, or CSV on standard output."""
    if _is_parquet(output):
        # Dictionary encoding for text only: tried on float columns it is 5 times the whole write.
        text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        parquet = stack.enter_context(pq.ParquetWriter(output, schema, use_dictionary=text or False))
        return lambda batch: parquet.write_batch(batch)
    out = sys.stdout if str(output) == "-" else \
        stack.enter_context(open(output, "w", newline="", encoding="utf-8"))  # noqa: SIM115 (the stack closes it)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(schema.names)

    def write(batch: Any) -> None:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        writer.writerows([_cell(v) for v in row] for row in zip(*columns, strict=True))

    return write


def _score_on_spark(master: str, model_file: Path, source: str, output: str, na_values: tuple[str, ...],
                    fail_fast: bool) -> None:
    if na_values or fail_fast:
        raise click.UsageError("--na and --fail-fast are not available with --spark")
    if output == "-":
        raise click.UsageError("with --spark the output is a path Spark writes, not '-'")

    def kind(path: str) -> Literal["parquet", "csv"]:
        return "parquet" if _is_parquet(path) else "csv"

    result = run_batch(model_file.read_bytes(), model_file.name, SparkSource(kind(source), path=source),
                       SparkSink(kind(output), path=output, mode="overwrite"), master=master)
    click.echo(f"scored {result.rows} record(s) on Spark {master} into {output}", err=True)
    if result.failed:
        click.echo(f"{result.failed} record(s) could not be scored; see the 'error' column", err=True)
