#!/usr/bin/env python3
"""Helper for score.sh: turns `mailcall detect` outputs into NAB result files.

Our own code (no NAB code). Standard library only, so it runs with any
Python 3; NAB's scorer itself needs pandas and simplejson.

Subcommands:
  export DATA_DIR DETECT_DIR RESULTS_DIR NAME COLUMN
      For every DATA_DIR/<category>/<file>.csv, read DETECT_DIR/<category>/<file>.csv
      (the detect output: the input columns plus `score,flag`) and write
      RESULTS_DIR/NAME/<category>/NAME_<file>.csv with columns
      timestamp,value,anomaly_score (same rows, same order as the data file).
      COLUMN is `score` (anomaly_score = score) or `flag` (anomaly_score = flag,
      0 or 1). Rows the detector did not write (it stopped early) get 0 and
      are counted in a warning; a row whose timestamp differs from the data
      file's is an error.
  thresholds THRESHOLDS_JSON NAME THRESHOLD
      Sets NAME's threshold for all three profiles.
  patch-sweeper SWEEPER_PY
      Fixes the fixed-threshold path of NAB's Sweeper.scoreDataSet: when no
      row of scoresByThreshold matches (every scorable row is at or above the
      threshold) fall back to the last row instead of returning None.
  report FINAL_RESULTS_JSON NAME [NAME...]
      Prints the three profile scores of each NAME.
"""

import csv
import json
import os
import sys

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def read_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    return rows[0], rows[1:]


def export(data_dir, detect_dir, results_dir, name, column):
    if "_" in name:
        sys.exit("detector name must not contain `_`: %s" % name)
    if column not in ("score", "flag"):
        sys.exit("column must be `score` or `flag`")
    files = 0
    padded_total = 0
    for category in sorted(os.listdir(data_dir)):
        cat_dir = os.path.join(data_dir, category)
        if not os.path.isdir(cat_dir):
            continue
        for fname in sorted(os.listdir(cat_dir)):
            if not fname.endswith(".csv"):
                continue
            header, data = read_rows(os.path.join(cat_dir, fname))
            t_in = header.index("timestamp")
            v_in = header.index("value")
            out_path = os.path.join(detect_dir, category, fname)
            scored = []
            if os.path.exists(out_path) and os.path.getsize(out_path) > 0:
                oh, scored = read_rows(out_path)
                t_out = oh.index("timestamp")
                c_out = oh.index(column)
            if len(scored) > len(data):
                sys.exit("%s: detect wrote more rows (%d) than the input has (%d)"
                         % (out_path, len(scored), len(data)))
            dest_dir = os.path.join(results_dir, name, category)
            os.makedirs(dest_dir, exist_ok=True)
            dest = os.path.join(dest_dir, "%s_%s" % (name, fname))
            padded = len(data) - len(scored)
            with open(dest, "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["timestamp", "value", "anomaly_score"])
                for i, row in enumerate(data):
                    score = 0.0
                    if i < len(scored):
                        if scored[i][t_out].strip() != row[t_in].strip():
                            sys.exit("%s: row %d: timestamp %r, data file has %r"
                                     % (out_path, i + 2, scored[i][t_out], row[t_in]))
                        cell = scored[i][c_out].strip()
                        score = float(cell) if cell else 0.0
                        if not (0.0 <= score <= 1.0):  # NaN fails too
                            sys.exit("%s: row %d: %s %r is not in [0, 1]"
                                     % (out_path, i + 2, column, cell))
                    w.writerow([row[t_in], row[v_in], repr(score)])
            if padded:
                print("warning: %s/%s: detect wrote %d of %d rows; the other %d "
                      "scored 0" % (category, fname, len(scored), len(data), padded),
                      file=sys.stderr)
                padded_total += padded
            files += 1
    print("exported %d files for %s (anomaly_score = %s; %d rows padded with 0)"
          % (files, name, column, padded_total))


def thresholds(path, name, threshold):
    with open(path) as f:
        d = json.load(f)
    d[name] = {p: {"score": 0.0, "threshold": float(threshold)} for p in PROFILES}
    with open(path, "w") as f:
        json.dump(d, f, indent=4, sort_keys=True)


def patch_sweeper(path):
    with open(path) as f:
        text = f.read()
    marker = "    # Return sweepScore for each row, to be added to score file\n"
    fix = ("    if matchingRow is None and scoresByThreshold:  # patched by mailcall score.sh\n"
           "      matchingRow = scoresByThreshold[-1]\n\n")
    if "patched by mailcall score.sh" in text:
        return
    if text.count(marker) != 1:
        sys.exit("%s: cannot find the place to patch (NAB changed?)" % path)
    with open(path, "w") as f:
        f.write(text.replace(marker, fix + marker))


def report(path, names):
    with open(path) as f:
        d = json.load(f)
    for name in names:
        s = d.get(name)
        if s is None:
            print("%-14s (no result)" % name)
            continue
        print("%-14s " % name + "  ".join("%s %.2f" % (p, s[p]) for p in PROFILES))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "export" and len(args) == 5:
        export(*args)
    elif cmd == "thresholds" and len(args) == 3:
        thresholds(*args)
    elif cmd == "patch-sweeper" and len(args) == 1:
        patch_sweeper(*args)
    elif cmd == "report" and len(args) >= 2:
        report(args[0], args[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
