#!/usr/bin/env bash
# README command 2: install everything (idempotent), then run the whole test suite, slow
# end-to-end tests included. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/hpc/setup/install.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest -ra "$@"
