#!/usr/bin/env bash
# README command 1: install everything (idempotent), then run the demo campaign end to end on
# the embedded default (local executor; one rank per task): simulate -> minimize -> collect
# (campaign HDF5) -> verify -> inherent-structure statistics.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/hpc/setup/install.sh"
cd "$ROOT"
GK=.venv/bin/glasskit
SPEC=${GLASSKIT_DEMO_SPEC:-jobs/demo.toml}
$GK submit simulate --spec "$SPEC" --executor local
$GK submit minimize --spec "$SPEC" --executor local
CAMPAIGN=$($GK collect --spec "$SPEC")
$GK verify --spec "$SPEC"
$GK status --spec "$SPEC"
.venv/bin/python analysis/ise.py "$CAMPAIGN" --T 0.05 --t-cool 200
.venv/bin/python analysis/ise.py "$CAMPAIGN" --T 0.05 --t-cool 20000
echo "demo campaign: $CAMPAIGN"
