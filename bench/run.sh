#!/usr/bin/env bash
# The one command of pmserve's benchmark (issue 5): makes bench/.venv with the pinned peers and
# pmserve from this checkout, then runs bench/run.py (arguments pass through, e.g. --quick).
#
#   bash bench/run.sh            # full run, 30-45 minutes on 2 cores; rewrites docs/performance.md
#   bash bench/run.sh --quick    # smallest sizes; writes bench/out/performance.md
#
# Needs Python >= 3.11 (PYTHON=... to choose) and Java 17 (sklearn2pmml, JPMML, PyPMML).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "making $venv (pinned peers, pmserve from the checkout)"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r "$here/requirements.txt" -e "$here/.."
  echo "$want" > "$stamp"
fi
command -v java >/dev/null || { echo "bench: java (17) is needed for sklearn2pmml, JPMML and PyPMML" >&2; exit 1; }
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some machines for old OpenBLAS builds) slow a current
# numpy: the benchmark unsets both, for every engine alike; the report records the kernel that ran.
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$here/run.py" "$@"
