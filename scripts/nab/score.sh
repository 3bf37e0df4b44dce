#!/usr/bin/env bash
# Scores a `mailcall detect` binary on NAB (the Numenta Anomaly Benchmark).
#
#   scripts/nab/score.sh [options] MAILCALL_BIN
#
# MAILCALL_BIN is anything that runs as `MAILCALL_BIN detect --input X.csv
# --output Y.csv` and writes the input rows plus `score,flag` columns (the
# Python prototype beside this script works too).
#
# Options (or the environment variables in brackets):
#   --nab DIR        an existing NAB checkout [NAB_DIR]; default: git clone
#                    https://github.com/numenta/NAB into the work directory.
#                    The checkout is never modified: the needed parts are
#                    copied into the work directory and scored there.
#   --python PY      a Python with pandas and simplejson for NAB's scorer
#                    [NAB_PYTHON]; default: python3 if it has both, else a
#                    venv made in the work directory (pandas==2.2.3).
#   --work DIR       work directory [NAB_WORK]; default: mktemp -d (kept, path
#                    printed at the end: detect outputs and NAB results are there).
#   --threshold T    also score the `score` column at the fixed threshold T
#                    (no optimising), as detector `mailcallfixed`.
#   --jobs N         detect runs in parallel [JOBS], default 1.
#
# What it prints (normalised NAB scores, higher is better, 100 = perfect):
#   mailcall       `score` column, threshold optimised per profile (--optimize);
#                  the chosen thresholds are printed too.
#   mailcallflag   the shipped `flag` column (anomaly_score = flag, threshold
#                  0.5): exactly the rows detect flags are detections.
#   mailcallfixed  (with --threshold) `score` column at the fixed threshold T.
#
# NAB's code is AGPL/MIT-licensed third-party code: it stays in the work
# directory, never in this repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nab_src=${NAB_DIR:-}
py=${NAB_PYTHON:-}
work=${NAB_WORK:-}
fixed=
jobs=${JOBS:-1}
bin=

usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

while [ $# -gt 0 ]; do
  case $1 in
    --nab) nab_src=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --threshold) fixed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [ -z "$bin" ] || usage; bin=$1; shift ;;
  esac
done
[ -n "$bin" ] || usage
[ -x "$bin" ] || { echo "not executable: $bin" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/mailcall-nab.XXXXXX")
mkdir -p "$work"
work=$(cd "$work" && pwd)
echo "work directory: $work"

# 1. NAB sources.
if [ -z "$nab_src" ]; then
  nab_src=$work/NAB-checkout
  if [ ! -f "$nab_src/run.py" ]; then
    git clone --depth 1 https://github.com/numenta/NAB "$nab_src"
  fi
fi
for p in run.py nab config/profiles.json config/thresholds.json labels/combined_windows.json data; do
  [ -e "$nab_src/$p" ] || { echo "$nab_src is not a NAB checkout (no $p)" >&2; exit 2; }
done
nab=$work/nab
rm -rf "$nab"
mkdir -p "$nab/results/null"
cp -R "$nab_src/run.py" "$nab_src/nab" "$nab_src/config" "$nab_src/labels" "$nab_src/data" "$nab/"
cp "$nab_src"/results/null/null_*_scores.csv "$nab/results/null/"
python_helper() { "$py" "$here/nab_export.py" "$@"; }

# 2. Python for the scorer.
if [ -z "$py" ]; then
  if python3 -c 'import pandas, simplejson' 2>/dev/null; then
    py=python3
  else
    base=$(command -v python3.11 || command -v python3)
    [ -x "$work/venv/bin/python" ] || "$base" -m venv "$work/venv"
    "$work/venv/bin/pip" install -q "pandas==2.2.3" simplejson
    py=$work/venv/bin/python
  fi
fi
"$py" -c 'import pandas, simplejson' || { echo "$py lacks pandas/simplejson" >&2; exit 2; }

# 3. Detect over every data file.
out=$work/detect
rm -rf "$out"
(cd "$nab/data" && find . -name '*.csv' | sed 's|^\./||' | sort) > "$work/files.txt"
while read -r rel; do mkdir -p "$out/$(dirname "$rel")"; done < "$work/files.txt"
echo "running detect over $(wc -l < "$work/files.txt") files"
export bin nab out
# shellcheck disable=SC2016
xargs -P "$jobs" -I{} bash -c '
  if ! "$bin" detect --input "$nab/data/$1" --output "$out/$1" 2> "$out/$1.err"; then
    echo "warning: detect failed on $1: $(tail -n 1 "$out/$1.err")" >&2
  fi' _ {} < "$work/files.txt"

# 4. NAB result files and scoring.
python_helper patch-sweeper "$nab/nab/sweeper.py"
python_helper export "$nab/data" "$out" "$nab/results" mailcall score
python_helper export "$nab/data" "$out" "$nab/results" mailcallflag flag
python_helper thresholds "$nab/config/thresholds.json" mailcallflag 0.5
names="mailcall mailcallflag"
if [ -n "$fixed" ]; then
  python_helper export "$nab/data" "$out" "$nab/results" mailcallfixed score
  python_helper thresholds "$nab/config/thresholds.json" mailcallfixed "$fixed"
  names="$names mailcallfixed"
fi
log=$work/nab.log
(
  cd "$nab"
  "$py" run.py -d mailcall --optimize --score --normalize --skipConfirmation
  for d in $names; do
    [ "$d" = mailcall ] && continue
    "$py" run.py -d "$d" --score --normalize --skipConfirmation
  done
) > "$log" 2>&1 || { tail -n 20 "$log" >&2; echo "NAB failed; log: $log" >&2; exit 1; }

echo
echo "NAB scores (normalised; log: $log):"
python_helper report "$nab/results/final_results.json" $names
"$py" - "$nab/config/thresholds.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["mailcall"]
print("optimised thresholds for mailcall: " + "  ".join(
    "%s %.6g" % (p, t[p]["threshold"])
    for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")))
EOF
