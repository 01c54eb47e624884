#!/usr/bin/env bash
# README command 1: install everything (idempotent), then run the demo campaign end to end on
# the embedded default (local executor; MPI ranks when available).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/hpc/setup/install.sh"
cd "$ROOT"
GK=.venv/bin/glasskit
SPEC=${GLASSKIT_DEMO_SPEC:-jobs/demo.toml}
$GK submit simulate --spec "$SPEC" --executor local
$GK status --spec "$SPEC"
