#!/usr/bin/env bash
# README command 1: install everything (idempotent), then run the demo campaign end to end on
# the embedded default (local executor; one rank per task): simulate -> minimize -> collect
# (campaign HDF5) -> verify -> inherent-structure statistics -> datasets 1 and 6 (images,
# graphs, metadata) -> figures (RDFs, ISE histogram, graph metrics with T_g, five-fold images).
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
# datasets and the paper's structural figures, from the campaign HDF5
$GK dataset build 1 --spec "$SPEC"
$GK dataset build 6 --spec "$SPEC"
FIG=$(dirname "$CAMPAIGN")/figures
.venv/bin/python analysis/rdf.py "$CAMPAIGN" --spec "$SPEC" --dataset 1 --validate --out "$FIG/rdf_dataset1"
.venv/bin/python analysis/rdf.py "$CAMPAIGN" --spec "$SPEC" --dataset 6 --out "$FIG/rdf_dataset6"
.venv/bin/python analysis/ise.py "$CAMPAIGN" --T 0.05 --t-cool 20000 --plot "$FIG/ise_slow_T0.05"
.venv/bin/python analysis/graph_metrics.py "$CAMPAIGN" --out "$FIG/graph_metrics"
.venv/bin/python analysis/fivefold.py --out "$FIG/fivefold" --count 1
echo "figures: $FIG"
