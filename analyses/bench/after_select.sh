#!/usr/bin/env bash
# The tables that read a finished `arwsv study --select --corpora CORPUS --seeds SEED` (labels joined here only):
#   analyses/bench/after_select.sh CORPUS SEED [PYTHON]
# - CORPUS's H list in the training proportions: seed SEED alone (`seedS/population.md`) and pooled over every seed
#   it has (`population.md`) (population.py);
# - every cell's change and the pseudo-groups the rule saw, for each corpus whose seed SEED has finished (levelling.py);
# - AS-norm on the development trials, for the same corpora (dev_asnorm.py; needs exp/select/C_seedS/reference.npz);
# - the study's README and summary.json (arwsv.experiments.select_study.summarize), and from it scorecard.md and
#   rule_vs_harm.md (the rule's verdict on each candidate beside the H list's, per corpus-seed).
# Each writes to temp and renames; rerunning after another corpus-seed finishes refreshes them.
set -euo pipefail
corpus=$1
seed=$2
python=${3:-.venv/bin/python}
cd "$(dirname "$0")/../.."
if [ ! -f "results/select_study/$corpus/seed$seed/selection.json" ]; then
    echo "results/select_study/$corpus/seed$seed/selection.json missing: that corpus-seed has not finished" >&2
    exit 2
fi
suffix=$([ "$seed" = 0 ] && echo "" || echo "_seed$seed")
systems="uniform balance_k32 crowding_k32_b10 crowding_k48_b20 difficulty_k16_b10 arw_pw asnorm_train asnorm_unseen"
for seeds in "$seed" all; do
    out=$([ "$seeds" = all ] && echo "results/select_study/$corpus/population.md" \
        || echo "results/select_study/$corpus/seed$seed/population.md")
    "$python" analyses/bench/population.py --runs "results/select_study/$corpus/runs" --baseline uniform \
        --systems $systems --data "data/$corpus" --bootstrap 200 $([ "$seeds" = all ] || echo "--seeds $seeds") \
        --out "$out"
done
# a table over several corpora is written only when every finished corpus can be read, so that a machine lacking
# one corpus (or one reference cache) never shrinks a committed table
corpora="" missing=""
for c in bench uncrowded shares crowded espeak reseeded; do
    [ -f "results/select_study/$c/seed$seed/selection.json" ] || continue
    corpora="$corpora $c"
    [ -f "data/$c/meta.csv" ] || missing="$missing data/$c"
done
if [ -z "$missing" ]; then
    "$python" analyses/bench/levelling.py --corpora $corpora --seed "$seed" \
        --systems crowding_k48_b20 crowding_k32_b10 difficulty_k16_b10 arw_pw asnorm_train --bootstrap 1000 \
        --out "results/select_study/levelling$suffix.md"
else
    echo "levelling$suffix.md not refreshed: missing$missing (arwsv prepare toy --preset NAME --out data/NAME)" >&2
fi
missing=""
for c in $corpora; do
    [ -f "exp/select/${c}_seed$seed/reference.npz" ] || missing="$missing exp/select/${c}_seed$seed/reference.npz"
done
if [ -z "$missing" ]; then
    "$python" analyses/bench/dev_asnorm.py --corpora $corpora --seed "$seed" --out "results/select_study/dev_asnorm$suffix.md"
else
    echo "dev_asnorm$suffix.md not refreshed: missing$missing (made by the selection run on its machine)" >&2
fi
"$python" -c "from pathlib import Path; from arwsv.experiments.select_study import summarize; \
summarize(Path('results/select_study'), Path('data'))"
"$python" analyses/bench/scorecard.py --summary results/select_study/summary.json \
    --out results/select_study/scorecard.md > /dev/null
"$python" analyses/bench/rule_vs_harm.py --study results/select_study --out results/select_study/rule_vs_harm.md > /dev/null
