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
from datetime import datetime, timezone

PARAMS = dict(
    alpha=0.002,     # EWMA weight of the level baseline (mean and variance)
    warmup=50,       # rows with a value before anything is scored
    tau=0.999,       # quantile of each test's surprise tracked per series
    eta=0.02,        # step of the quantile trackers (log scale)
    q_min=0.5,       # floor of a tracked quantile
    q_init=3.0,      # initial tracked quantile (normal noise: S quantile 0.999 = 3.0)
    slot_seconds=900,  # daily profile: 96 slots of 15 minutes (time of day, UTC)
    a_slot=0.3,      # EWMA weight of a slot's mean
    slot_min_days=3,  # distinct days a slot must have seen (this row's day included) before the daily test uses it
    a_res=0.002,     # EWMA weight of the daily residuals' mean square
    res_min=50,      # residuals learned before the daily test scores
    decay=0.99,      # per-row decay of the running max (onset rule)
    margin=1.5,      # a row is an onset if R > margin * decayed running max
    s0=1.0,          # score = E / (E + s0)
    rel_eps=1e-6,    # spread floor relative to |mean|
    abs_eps=1e-6,    # absolute spread floor
    slot_var=True,   # daily spread = max(global residual mean square, the slot's own)
    ramp=True,       # EWMA weights start at 1/count (running averages) until they reach alpha
    flag_score=0.6,  # shipped cut: flag = score >= 0.6 (E >= 1.5)
)

SQRT2 = math.sqrt(2.0)
LN10 = math.log(10.0)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
DAY = 86400


def surprise(z):
    """-log10 of the upper normal tail probability Q(z), for z >= 0."""
    if z < 30.0:
        return -math.log10(0.5 * math.erfc(z / SQRT2))
    # Q(z) ~ phi(z)/z for large z (erfc underflows past ~37).
    return (0.5 * z * z + math.log(z) + HALF_LOG_2PI) / LN10


class SeriesDetector:
    """Two tests (level, daily profile), each normalised by its own running
    quantile; their max goes through the onset rule. See ALGORITHM.md."""

    def __init__(self, params=None):
        p = dict(PARAMS)
        if params:
            p.update(params)
        self.p = p
        self.q_up = math.exp(p["eta"] * p["tau"])
        self.q_down = math.exp(-p["eta"] * (1.0 - p["tau"]))
        self.n = 0            # rows with a value seen
        self.mean = 0.0       # level baseline
        self.var = 0.0
        self.q_level = p["q_init"]
        nslots = DAY // p["slot_seconds"]
        self.slot_mean = [0.0] * nslots
        self.slot_count = [0] * nslots
        self.slot_ms = [0.0] * nslots   # per slot: mean square of its residuals
        self.slot_day = [0] * nslots    # per slot: day number (t // 86400) of its last value
        self.slot_days = [0] * nslots   # per slot: distinct days seen (first value = 1)
        self.slot_res = [0] * nslots    # per slot: residuals learned
        self.res_ms = 0.0     # mean square of daily residuals
        self.res_n = 0
        self.q_daily = p["q_init"]
        self.run_max = 0.0

    def _track(self, q, s):
        """One step of a quantile tracker; returns (R, new q)."""
        qe = max(q, self.p["q_min"])
        return s / qe, q * (self.q_down if s <= qe else self.q_up)

    def update(self, x, t=None):
        """Judges one row and learns it. x: the value (None, NaN or inf =
        missing); t: unix seconds (None = unknown: no daily test this row).
        Returns (score, flag)."""
        p = self.p
        if x is None or not math.isfinite(x):
            return 0.0, False
        self.n += 1
        slot = None
        if t is not None:
            slot = (t % DAY) // p["slot_seconds"]   # Python % is rem_euclid
        if self.n == 1:
            self.mean = x
            if slot is not None:
                self.slot_mean[slot] = x
                self.slot_count[slot] = 1
                self.slot_days[slot] = 1
                self.slot_day[slot] = t // DAY
            return 0.0, False
        floor = p["abs_eps"] ** 2 + (p["rel_eps"] * abs(self.mean)) ** 2
        r = 0.0
        # Level test.
        z = abs(x - self.mean) / math.sqrt(self.var + floor)
        r_level, self.q_level = self._track(self.q_level, surprise(z))
        r = r_level
        d = x - self.mean
        a = max(p["alpha"], 1.0 / self.n) if p["ramp"] else p["alpha"]
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        # Daily-profile test.
        if slot is not None:
            c = self.slot_count[slot]
            day = t // DAY
            if c == 0:
                self.slot_days[slot] = 1
            elif day != self.slot_day[slot]:
                self.slot_days[slot] += 1
            self.slot_day[slot] = day
            if c > 0 and self.slot_days[slot] >= p["slot_min_days"]:
                e = x - self.slot_mean[slot]
                if self.res_n >= p["res_min"]:
                    spread2 = self.res_ms
                    if p["slot_var"]:
                        spread2 = max(spread2, self.slot_ms[slot])
                    zd = abs(e) / math.sqrt(spread2 + floor)
                    r_daily, self.q_daily = self._track(self.q_daily, surprise(zd))
                    r = max(r, r_daily)
                self.res_n += 1
                ar = max(p["a_res"], 1.0 / self.res_n) if p["ramp"] else p["a_res"]
                self.res_ms = (1.0 - ar) * self.res_ms + ar * e * e
                self.slot_res[slot] += 1
                asv = max(p["a_slot"], 1.0 / self.slot_res[slot])
                self.slot_ms[slot] = (1.0 - asv) * self.slot_ms[slot] + asv * e * e
            if c == 0:
                self.slot_mean[slot] = x
            else:
                self.slot_mean[slot] += p["a_slot"] * (x - self.slot_mean[slot])
            self.slot_count[slot] = c + 1
        # Cold start, then the onset rule.
        if self.n <= p["warmup"]:
            r = 0.0
        decayed = self.run_max * p["decay"]
        e_out = r if r > p["margin"] * decayed else 0.0
        self.run_max = max(decayed, r)
        score = e_out / (e_out + p["s0"])
        return score, score >= p["flag_score"]


def parse_time(text):
    """`YYYY-MM-DD[ HH:MM[:SS]]`, RFC 3339 or unix seconds -> unix seconds."""
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def parse_value(text):
    text = text.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def score_values(values, times=None, params=None):
    det = SeriesDetector(params)
    if times is None:
        times = [None] * len(values)
    return [det.update(v, t)[0] for v, t in zip(values, times)]


def detect(inp, out, decimals):
    reader = csv.reader(inp)
    writer = csv.writer(out, lineterminator="\n")
    header = next(reader)
    col = [h.strip().lstrip("\ufeff") for h in header]
    vi = col.index("value")
    ti = col.index("timestamp")
    writer.writerow(header + ["score", "flag"])
    det = SeriesDetector()
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        v = parse_value(row[vi]) if vi < len(row) else None
        t = parse_time(row[ti]) if ti < len(row) else None
        score, flag = det.update(v, t)
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
