"""Smoke test of the benchmark (bench/): the whole pipeline on the smallest sizes, never its timings.

Runs ``bench/run.py --quick`` on the logistic regression with the peers' environment that
``bash bench/run.sh`` makes (bench/.venv); skips when that environment or Java is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "bench"
PEERS_PYTHON = BENCH / ".venv" / "bin" / "python"
ENGINES = ("pmserve", "jpmml", "pypmml", "native", "onnx")

pytestmark = pytest.mark.slow


def _peers_missing() -> str | None:
    if not PEERS_PYTHON.exists():
        return f"the benchmark's peers are not installed ({PEERS_PYTHON} absent; `bash bench/run.sh` makes it)"
    if shutil.which("java") is None:
        return "java is not installed (sklearn2pmml, JPMML and PyPMML need it)"
    probe = subprocess.run([str(PEERS_PYTHON), "-c", "import sklearn2pmml, jpmml_evaluator, jpype, pypmml, "
                            "skl2onnx, onnxruntime, aiohttp, pmserve"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bench/.venv lacks a peer: {probe.stderr.strip().splitlines()[-1]}"
    return None


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """results.json and the report of one quick run (built once for the module)."""
    reason = _peers_missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [str(PEERS_PYTHON), str(BENCH / "run.py"), "--quick", "--models", "logreg", "--http-servers", "pmserve",
         "--jobs", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"bench/run.py --quick failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    results["report_text"] = (out / "performance.md").read_text()
    return results


def test_quick_run_measures_every_engine(quick_run: dict[str, Any]) -> None:
    """Each engine loads the zoo model, scores both batch sizes and answers single records."""
    by_engine = {r["engine"]: r for r in quick_run["engines"]}
    assert sorted(by_engine) == sorted(ENGINES)
    for engine, res in by_engine.items():
        assert "error" not in res, f"{engine}: {res.get('error')}\n{res.get('traceback', '')}"
        assert set(res["batch"]) == {"200", "1000"}
        assert all(b["rows_per_s"] > 0 for b in res["batch"].values())
        assert res["latency"]["calls"] == 100
        assert res["latency"]["p99_ms"] >= res["latency"]["p50_ms"] > 0
        assert res["peak_rss_mib"] >= res["rss_before_mib"] > 0


def test_every_engine_agrees_with_jpmml_on_the_logistic_regression(quick_run: dict[str, Any]) -> None:
    """pmserve and the peers give JPMML's labels and probabilities on every row of the batch."""
    for res in quick_run["engines"]:
        if res["engine"] == "jpmml":
            continue
        agreement = res["agreement"]
        assert agreement["rows"] == 200
        assert agreement["compared"] == ["label", "proba"]
        assert agreement["agree"] == pytest.approx(1.0), res["engine"]


def test_http_benchmark_serves_every_request_of_pmserve(quick_run: dict[str, Any]) -> None:
    """The pmserve server answers every 1-record request at the fixed rate and the bulk request."""
    server = quick_run["http"]["pmserve"]
    assert "error" not in server, server.get("error")
    (step,) = server["rates"]
    assert step["target_rate"] == pytest.approx(100.0)
    assert step["errors"] == 0
    assert step["ok"] == step["sent"] == 200
    assert server["bulk"]["errors"] == 0
    assert server["bulk"]["rows"] == 1000


def test_report_has_each_table_with_pmserve_and_ratios(quick_run: dict[str, Any]) -> None:
    """The markdown report holds the batch, latency, load, memory, agreement, HTTP and target tables."""
    text = quick_run["report_text"]
    for heading in ("### Batch rows/s, 1,000 rows", "### Batch rows/s, 200 rows", "### Single-record latency",
                    "### Load time", "### Peak RSS", "### Agreement with JPMML", "### HTTP", "### Issue 5 targets"):
        assert heading in text
    logreg_rows = [line for line in text.splitlines() if line.startswith("| logistic regression")]
    # Batch (2), latency p50 and p99, load, RSS, agreement.
    assert len(logreg_rows) == 7
    assert "(\u00d7" in logreg_rows[0]  # a ratio to a peer
    assert "100.00 %" in logreg_rows[-1]
    assert "`bash bench/run.sh --quick`" in text
