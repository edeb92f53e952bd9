"""Reproduce nn.Conv2d's weight AND bias init (any shape, float32 and float64) from MT19937.

Run from the repository root (after generate_conv.py has written init_conv.json):

    /usr/bin/python3 scripts/golden/check_init_conv.py

Recipe (PyTorch 1.13, CPU), after torch.manual_seed(seed):

  MT19937 seeded with init_genrand(seed & 0xffffffff) (see check_init.py).
  fan_in = (C / groups) * kh * kw        (weight shape O × C/groups × kh × kw)
  weight: kaiming_uniform_(a=sqrt(5)), in Python doubles:
      gain    = sqrt(2 / (1 + sqrt(5)**2))          sqrt(5)**2 == 5.000000000000001
      bound_w = sqrt(3) * (gain / sqrt(fan_in))
  bias (only if bias=True), drawn AFTER all weights from the same stream:
      bound_b = 1 / sqrt(fan_in)
  each tensor is filled with uniform_(-bound, bound) in row-major order:
      from = T(-bound), to = T(bound)   (T = float or double: a cast of the Python double)
  float32: one 32-bit output u per element
      x = (u & 0xFFFFFF) * 2**-24                   (exact)
      v = fma(x, to - from, from)  in float32       (AVX2/AVX512 kernels; the DEFAULT
                                                     kernel rounds the product first)
  float64: TWO 32-bit outputs per element, the FIRST is the HIGH word
      r = (u1 << 32) | u2
      x = (r & (2**53 - 1)) * 2**-53                (exact double)
      v = fma(x, to - from, from)  in float64       (one rounding; same capability caveat)
  (to - from is exact in both types: it is 2*bound.)

For float64, bound_w and bound_b differ as doubles for most fan_in (the kaiming
expression is not bit-identical to 1/sqrt(fan_in)), and an FMA is not the same
as a product then a sum (the exact product needs up to 106 bits), so both
details are checked against alternatives below.  The fused result is computed
here exactly with fractions and rounded once (ties to even).

This script checks every variant (fused/separate, high-word-first/low-first,
bound kaiming/1-over-sqrt) against init_conv.json and freshly built layers, and
re-runs the live part under ATEN_CPU_CAPABILITY=default.
"""

import json
import math
import os
import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INIT_JSON = os.path.join(REPO_ROOT, "testdata", "golden", "init_conv.json")


def mt19937_raw(seed, n):
    bitgen = np.random.MT19937(0)
    bitgen._legacy_seeding(seed & 0xFFFFFFFF)  # init_genrand
    return [int(v) for v in bitgen.random_raw(n)]


def kaiming_bound(fan_in):
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    return math.sqrt(3.0) * (gain / math.sqrt(fan_in))


def round_f32(fr):
    """Fraction -> nearest float32 (ties to even), via exact float64 when possible."""
    d = float(fr)  # correctly rounded to float64
    f = np.float32(d)
    if Fraction(d) == fr:
        return f
    # double rounding guard: pick the float32 neighbour nearest to fr exactly
    cands = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - fr), int(np.float32(c).view(np.uint32)) & 1))
    return best


def uniform_values(stream, count, bound, dtype, fused=True, hi_first=True):
    """Fill `count` values in [-bound, bound) from the iterator `stream` of 32-bit outputs."""
    out = []
    if dtype == "float32":
        frm, to = np.float32(-bound), np.float32(bound)
        span = np.float32(to - frm)
        for _ in range(count):
            x = np.float32(next(stream) & 0xFFFFFF) * np.float32(2.0 ** -24)
            if fused:
                out.append(round_f32(Fraction(float(x)) * Fraction(float(span)) + Fraction(float(frm))))
            else:
                out.append(np.float32(np.float32(x * span) + frm))
        return np.array(out, dtype=np.float32).astype(np.float64)
    frm, to = -bound, bound
    span = to - frm
    for _ in range(count):
        a, b = next(stream), next(stream)
        r = (a << 32) | b if hi_first else (b << 32) | a
        x = (r & ((1 << 53) - 1)) * 2.0 ** -53
        if fused:
            out.append(float(Fraction(x) * Fraction(span) + Fraction(frm)))
        else:
            out.append(x * span + frm)
    return np.array(out, dtype=np.float64)


def predict(seed, dtype, cin, cout, groups, ks, bias, fused=True, hi_first=True, weight_bound="kaiming"):
    kh, kw = ks
    fan_in = (cin // groups) * kh * kw
    nw = cout * (cin // groups) * kh * kw
    per = 1 if dtype == "float32" else 2
    stream = iter(mt19937_raw(seed, per * (nw + (cout if bias else 0))))
    bw = kaiming_bound(fan_in) if weight_bound == "kaiming" else 1 / math.sqrt(fan_in)
    w = uniform_values(stream, nw, bw, dtype, fused, hi_first).reshape(cout, cin // groups, kh, kw)
    b = uniform_values(stream, cout, 1 / math.sqrt(fan_in), dtype, fused, hi_first) if bias else None
    return w, b


VARIANTS = {
    "fused,hi-first,kaiming (the recipe)": dict(fused=True, hi_first=True, weight_bound="kaiming"),
    "separate,hi-first,kaiming": dict(fused=False, hi_first=True, weight_bound="kaiming"),
    "fused,lo-first,kaiming": dict(fused=True, hi_first=False, weight_bound="kaiming"),
    "fused,hi-first,1/sqrt(fan_in)": dict(fused=True, hi_first=True, weight_bound="inv"),
}


def count(entries):
    """entries: dicts as in init_conv.json. Returns {dtype: {variant: mismatching values}, elements}."""
    res = {}
    for e in entries:
        r = res.setdefault(e["dtype"], {"elements": 0, **{v: 0 for v in VARIANTS}})
        w = np.array(e["weight"])
        b = None if e["bias_values"] is None else np.array(e["bias_values"])
        r["elements"] += w.size + (0 if b is None else b.size)
        for name, kw in VARIANTS.items():
            pw, pb = predict(e["seed"], e["dtype"], e["in_channels"], e["out_channels"], e["groups"],
                             tuple(e["kernel_size"]), e["bias"], **kw)
            r[name] += int(np.sum(pw != w)) + (0 if b is None else int(np.sum(pb != b)))
    return res


def live_entries():
    shapes = [(1, 1, 1, (3, 3), True), (4, 8, 1, (3, 3), True), (4, 4, 2, (3, 5), True), (4, 4, 4, (5, 5), True),
              (3, 2, 1, (1, 1), True), (6, 3, 3, (2, 7), True), (16, 16, 1, (3, 3), True)]
    out = []
    for seed in [0, 3, 7, 42, 1234, 2**31 + 1, 2**40 + 9]:
        for dtype, tdt in (("float32", torch.float32), ("float64", torch.float64)):
            for cin, cout, g, ks, bias in shapes:
                torch.manual_seed(seed)
                conv = nn.Conv2d(cin, cout, ks, groups=g, bias=bias, dtype=tdt)
                out.append({"seed": seed, "dtype": dtype, "in_channels": cin, "out_channels": cout, "groups": g,
                            "kernel_size": list(ks), "bias": bias,
                            "weight": conv.weight.detach().double().numpy().tolist(),
                            "bias_values": conv.bias.detach().double().numpy().tolist()})
    return out


def cpu_capability():
    m = re.search(r"CPU capability usage: ([^\n]+)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def show(title, res):
    for dtype, r in sorted(res.items()):
        print("%s, %s (%d values):" % (title, dtype, r["elements"]))
        for v in VARIANTS:
            print("    %-40s mismatches %d" % (v, r[v]))


def main():
    torch.set_num_threads(1)
    if "--live-only" in sys.argv:
        print(json.dumps({"capability": cpu_capability(), "res": count(live_entries())}))
        return 0
    # sanity: fused float64 differs from separate for some values, bounds differ as doubles
    assert any(kaiming_bound(f) != 1 / math.sqrt(f) for f in range(1, 50))
    assert all(np.float32(kaiming_bound(f)) == np.float32(1 / math.sqrt(f)) for f in range(1, 20000))

    with open(INIT_JSON) as f:
        recorded = json.load(f)
    print("init_conv.json generated with:", recorded["generator"])
    res = count(recorded["entries"])
    show("recorded init_conv.json", res)
    assert all(r["fused,hi-first,kaiming (the recipe)"] == 0 for r in res.values())

    res = count(live_entries())
    show("live torch (%s)" % cpu_capability(), res)

    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    child = subprocess.run([sys.executable, __file__, "--live-only"], env=env, capture_output=True, text=True,
                           check=True)
    r = json.loads(child.stdout.strip().splitlines()[-1])
    show("live torch, ATEN_CPU_CAPABILITY=default -> %s" % r["capability"], r["res"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
