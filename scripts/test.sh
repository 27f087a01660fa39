#!/usr/bin/env bash
# Install pmserve with its test tools into .venv (first run only), then run the whole test suite,
# the type checker and the linter.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" dev
cd "$ROOT"
"$VENV/bin/ruff" check src tests
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
