#!/usr/bin/env python3
"""Prototype of the streaming series detector specified in ALGORITHM.md.

Our own code (no NAB code). Standard library only.

    prototype.py detect --input IN.csv [--output OUT.csv] [--decimals N]

reads `timestamp,value` (other columns are passed through) and writes every
input row plus `score,flag`, like `mailcall detect`, so scripts/nab/score.sh
can score it:  scripts/nab/score.sh scripts/nab/prototype.py

The per-row logic is in `SeriesDetector.update`; every constant is in
`PARAMS`. The timestamp is not used by the algorithm (rows are judged in file
order), so duplicate or out-of-order timestamps are ordinary rows.
"""

import argparse
import csv
import math
import sys

PARAMS = dict(
    alpha=0.002,     # EWMA weight of the level baseline (mean and variance)
    warmup=50,       # rows with a value before anything is scored
    tau=0.999,       # quantile of the surprise tracked per series
    eta=0.02,        # step of the quantile tracker (log scale)
    q_min=0.5,       # floor of the tracked quantile
    q_init=1.0,      # initial tracked quantile
    decay=0.99,      # per-row decay of the running max (onset rule)
    margin=1.5,      # a row is an onset if R > margin * decayed running max
    s0=1.0,          # score = E / (E + s0)
    rel_eps=1e-6,    # spread floor relative to |mean|
    abs_eps=1e-6,    # absolute spread floor (sqrt of 1e-12)
    flag_score=0.6,  # shipped cut: flag = score >= 0.6 (E >= 1.5)
)

SQRT2 = math.sqrt(2.0)
LN10 = math.log(10.0)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def surprise(z):
    """-log10 of the upper normal tail probability Q(z), for z >= 0."""
    if z < 30.0:
        return -math.log10(0.5 * math.erfc(z / SQRT2))
    # Q(z) ~ phi(z)/z for large z (erfc underflows past ~37).
    return (0.5 * z * z + math.log(z) + HALF_LOG_2PI) / LN10


class SeriesDetector:
    def __init__(self, params=None):
        p = dict(PARAMS)
        if params:
            p.update(params)
        self.p = p
        self.q_up = math.exp(p["eta"] * p["tau"])
        self.q_down = math.exp(-p["eta"] * (1.0 - p["tau"]))
        self.n = 0          # rows with a value seen
        self.mean = 0.0
        self.var = 0.0
        self.q = p["q_init"]
        self.run_max = 0.0

    def update(self, x):
        """Judges one value (None/NaN/inf = missing) and learns it.
        Returns (score, flag)."""
        p = self.p
        if x is None or not math.isfinite(x):
            return 0.0, False
        self.n += 1
        if self.n == 1:
            self.mean = x
            return 0.0, False
        # 1. Judge against the state before this row.
        floor = p["abs_eps"] ** 2 + (p["rel_eps"] * abs(self.mean)) ** 2
        z = abs(x - self.mean) / math.sqrt(self.var + floor)
        s = surprise(z)
        q = max(self.q, p["q_min"])
        r = s / q
        # 2. Learn: level baseline, then the quantile tracker.
        d = x - self.mean
        a = p["alpha"]
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.q *= self.q_down if s <= q else self.q_up
        # 3. Cold start, then the onset rule.
        if self.n <= p["warmup"]:
            r = 0.0
        decayed = self.run_max * p["decay"]
        e = r if r > p["margin"] * decayed else 0.0
        self.run_max = max(decayed, r)
        score = e / (e + p["s0"])
        return score, score >= p["flag_score"]


def parse_value(text):
    text = text.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def score_values(values, params=None):
    det = SeriesDetector(params)
    return [det.update(v)[0] for v in values]


def detect(inp, out, decimals):
    reader = csv.reader(inp)
    writer = csv.writer(out, lineterminator="\n")
    header = next(reader)
    col = [h.strip().lstrip("\ufeff") for h in header]
    vi = col.index("value")
    writer.writerow(header + ["score", "flag"])
    det = SeriesDetector()
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        v = parse_value(row[vi]) if vi < len(row) else None
        score, flag = det.update(v)
        writer.writerow(row + ["%.*f" % (decimals, score), "1" if flag else "0"])


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("detect")
    d.add_argument("--input", required=True)
    d.add_argument("--output", default="-")
    d.add_argument("--decimals", type=int, default=6)
    args = ap.parse_args()
    with open(args.input, newline="", encoding="utf-8") as inp:
        if args.output == "-":
            detect(inp, sys.stdout, args.decimals)
        else:
            with open(args.output, "w", newline="") as out:
                detect(inp, out, args.decimals)


if __name__ == "__main__":
    main()
