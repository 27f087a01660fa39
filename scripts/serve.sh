#!/usr/bin/env bash
# Quick start: install pmserve into .venv (first run only) and start it with the embedded store.
# Prints the URL and a ready access key; the bundled sample model is deployed as context id "iris".
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" postgres
exec "$VENV/bin/pmserve" serve --quickstart "$@"
