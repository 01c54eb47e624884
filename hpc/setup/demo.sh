#!/usr/bin/env bash
# README command 1: install everything (idempotent), then run the demo campaign end to end on
# the embedded default (local executor; one rank per task): simulate -> minimize -> collect
# (campaign HDF5) -> verify -> inherent-structure statistics -> datasets 1 and 6 (images,
# graphs, metadata) -> figures (RDFs, ISE histogram, graph metrics with T_g, five-fold images)
# -> classifiers: a CNN and a D-MPNN (2 DDP processes, submitit) on datasets 1 and 6, a 3-fold
# nested CV with a parallel TPE search per fold, and the figures that need a trained model
# (Figs 3, 4, 5, 6, 8, transfer matrix, the searches' trials).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/hpc/setup/install.sh"
cd "$ROOT"
GK=.venv/bin/glasskit
SPEC=${GLASSKIT_DEMO_SPEC:-jobs/demo.toml}
$GK submit simulate --spec "$SPEC" --executor local
# inherent structures of the first two runs of each cooling rate, all 200 frames of each (the
# ISE figures need no more)
$GK submit minimize --spec "$SPEC" --executor local --array 0-1,24-25
CAMPAIGN=$($GK collect --spec "$SPEC")
$GK verify --spec "$SPEC"
$GK status --spec "$SPEC"
.venv/bin/glasskit figure ise "$CAMPAIGN" --T 0.05 --t-cool 200
.venv/bin/glasskit figure ise "$CAMPAIGN" --T 0.05 --t-cool 20000
# datasets and the paper's structural figures, from the campaign HDF5
$GK dataset build 1 --spec "$SPEC"
$GK dataset build 6 --spec "$SPEC"
FIG=$(dirname "$CAMPAIGN")/figures
.venv/bin/glasskit figure rdf "$CAMPAIGN" --spec "$SPEC" --dataset 1 --validate --out "$FIG/rdf_dataset1"
.venv/bin/glasskit figure rdf "$CAMPAIGN" --spec "$SPEC" --dataset 6 --out "$FIG/rdf_dataset6"
.venv/bin/glasskit figure ise "$CAMPAIGN" --T 0.05 --t-cool 20000 --plot "$FIG/ise_slow_T0.05"
.venv/bin/glasskit figure ise "$CAMPAIGN" --curve "$FIG/ise_curve"    # E_IS(T) and T_g per rate
.venv/bin/glasskit figure graph_metrics "$CAMPAIGN" --out "$FIG/graph_metrics"
.venv/bin/glasskit figure fivefold --out "$FIG/fivefold" --count 1

# the classifiers, on jobs/models.toml as shipped. One override: the demo's whole box (320
# particles) is about one paper window (l_win = 0.27 of the N = 4320 box), so the D-MPNN reads
# the whole box (l_win = 1.0); the shipped l_win = 0.3 would give windows of ~29 particles.
# The CNN (72 M weights, 250 px images) trains at ~140 ms/sample on 2 cores: 5 epochs here.
# With 24 runs per class the test splits hold a handful of samples: glasskit figure accuracy marks
# such bars "not a result" (bench/learning.py has the paper-sized numbers).
DMPNN_DEMO=(--hp l_win=1.0)
for DS in 1 6; do
    $GK submit train --model cnn --dataset $DS --spec "$SPEC" --executor local --hp epochs=5
    # two DDP processes: the batch is global and must divide over them (the paper's 5 does not)
    $GK submit train --model dmpnn --dataset $DS --spec "$SPEC" --executor local --tasks 2 "${DMPNN_DEMO[@]}" --hp batch=4
done
# nested CV with a parallel TPE search per outer fold (2 workers on the embedded MongoDB-wire
# server); --hp pins l_win, dropout and hidden, so TPE varies k, depth and ffn_layers of Model I
# (workers=0: no DataLoader processes, which cost more than they save on 320-particle frames)
$GK submit cv --model dmpnn --preset model-i --dataset 1 --spec "$SPEC" --executor local "${DMPNN_DEMO[@]}" \
    --hp hidden=300 --hp workers=0 --search --evals 4 --workers 2
$GK status --spec "$SPEC"
MODELS=$(dirname "$CAMPAIGN")/models
.venv/bin/glasskit figure accuracy "$MODELS" --out "$FIG/accuracy"
DMPNN_RUN=$(ls -d "$MODELS"/dmpnn-d1-* | head -n1)
CNN_RUN=$(ls -d "$MODELS"/cnn-d1-* | head -n1)
.venv/bin/glasskit figure attention "$DMPNN_RUN" --out "$FIG"
.venv/bin/glasskit figure feature_maps "$CNN_RUN" --out "$FIG"
.venv/bin/glasskit figure nfold_verdict "$CNN_RUN" --count 2 --out "$FIG"
.venv/bin/glasskit figure transfer "$MODELS" --model dmpnn --out "$FIG/transfer_dmpnn"
.venv/bin/glasskit figure search "$(dirname "$CAMPAIGN")/searches" --out "$FIG/search"
# Fig 8 on the demo's frames, two steps per point (the full figure: bench/ml.py, paper-sized frames)
.venv/bin/glasskit figure training_time --campaign "$CAMPAIGN" --spec "$SPEC" --l-win 0.3 0.45 0.6 \
    --steps 2 --batch 2 --out "$FIG/training_time"
echo "figures: $FIG"
