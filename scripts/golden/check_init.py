"""Reproduce PyTorch's nn.Conv2d weight init from raw MT19937 outputs.

Run from the repository root (after generate.py has written train.json):

    /usr/bin/python3 scripts/golden/check_init.py

What nn.Conv2d(1, 1, (kh, kw), bias=False) does after torch.manual_seed(seed)
(PyTorch 1.13, CPU, float32):

1. manual_seed(seed) re-seeds the CPU generator's MT19937 with the standard
   init_genrand recurrence applied to the LOW 32 BITS of the uint64 seed
   (state[0] = seed & 0xffffffff).  So seeds 2**32 and 0 are the same stream,
   and 2**40 + 3 is the same as 3.
2. reset_parameters() calls init.kaiming_uniform_(w, a=sqrt(5)):
       gain  = sqrt(2 / (1 + sqrt(5)**2))       (Python doubles)
       bound = sqrt(3) * (gain / sqrt(fan_in))  fan_in = kh*kw
   which is not always the same double as 1/sqrt(fan_in), but it rounds to the
   same float32 (checked here for fan_in up to 200000).
   Then w.uniform_(-bound, bound): from = float32(-bound), to = float32(bound).
3. For each element in row-major order, one 32-bit MT19937 output u:
       x = float32(u & 0xFFFFFF) * 2**-24           (exact)
       w = x * (to - from) + from                    (float32)
   The last line is compiled per CPU capability.  In the DEFAULT (baseline
   x86-64) kernel it is two float32 roundings (multiply, then add).  In the
   AVX2 / AVX512 kernels the compiler contracted it into an FMA: one rounding
   of the exact value.  PyTorch picks the best kernel the CPU supports, so on
   any AVX2 machine the fused result is what you get.

   The fused value can be computed without an FMA instruction: with
   b = m * 2**e (m a 24-bit integer) and x = k * 2**-24,
       x * 2b - b = (k - 2**23) * m * 2**(e-23)
   needs at most 47 significant bits, so float64(x) * float64(to - from) +
   float64(from) is exact in float64 and a single cast to float32 gives the
   correctly rounded (= FMA) result.

This script checks both variants against
  * the "init" entries recorded in testdata/golden/train.json, and
  * freshly constructed layers for more seeds and kernel shapes,
and re-runs itself with ATEN_CPU_CAPABILITY=default to show the unfused case.
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
TRAIN_JSON = os.path.join(REPO_ROOT, "testdata", "golden", "train.json")


def mt19937_raw(seed, n):
    """First n 32-bit outputs of MT19937 seeded by init_genrand(seed mod 2**32)."""
    bitgen = np.random.MT19937(0)
    bitgen._legacy_seeding(seed & 0xFFFFFFFF)  # init_genrand for a 32-bit int
    return [int(v) for v in bitgen.random_raw(n)]


def kaiming_bound(fan_in):
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    return math.sqrt(3.0) * (gain / math.sqrt(fan_in))


def predict(seed, kh, kw, fused):
    fan_in = kh * kw
    bound = kaiming_bound(fan_in)
    frm = np.float32(-bound)
    to = np.float32(bound)
    span = np.float32(to - frm)  # exactly 2*bound in float32
    out = []
    for u in mt19937_raw(seed, fan_in):
        x = np.float32(u & 0xFFFFFF) * np.float32(2.0 ** -24)
        if fused:
            exact = float(x) * float(span) + float(frm)  # exact in float64, see docstring
            assert Fraction(exact) == Fraction(float(x)) * Fraction(float(span)) + Fraction(float(frm))
            w = np.float32(exact)
        else:
            w = np.float32(np.float32(x * span) + frm)
        out.append(w)
    return np.array(out, dtype=np.float32).reshape(kh, kw)


def torch_init(seed, kh, kw):
    torch.manual_seed(seed)
    return nn.Conv2d(1, 1, kernel_size=(kh, kw), bias=False).weight.detach().numpy()[0, 0]


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def count_mismatches(entries):
    """entries: (seed, kh, kw, float32 weights). Returns {variant: mismatching elements}."""
    res = {"fused": 0, "separate": 0, "elements": 0}
    for seed, kh, kw, w in entries:
        res["elements"] += kh * kw
        for variant, fused in (("fused", True), ("separate", False)):
            res[variant] += int(np.sum(bits(predict(seed, kh, kw, fused)) != bits(w)))
    return res


def live_entries():
    seeds = list(range(20)) + [42, 1234, 2**31, 4294967295, 4294967296, 2**40 + 3, 2**64 - 1]
    shapes = [(1, 1), (1, 2), (2, 2), (3, 3), (2, 5), (5, 5), (7, 7), (3, 11), (16, 16)]
    return [(s, kh, kw, torch_init(s, kh, kw)) for s in seeds for kh, kw in shapes]


def cpu_capability():
    m = re.search(r"CPU capability usage: ([^\n]+)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def sanity_checks():
    # numpy's legacy seeding is init_genrand: the C++ standard requires the
    # 10000th output of a default-constructed std::mt19937 (seed 5489) to be 4123659995.
    assert mt19937_raw(5489, 10000)[-1] == 4123659995
    # seeds only use the low 32 bits
    for hi, lo in ((2**32, 0), (2**40 + 3, 3), (2**64 - 1, 2**32 - 1)):
        assert np.array_equal(bits(torch_init(hi, 3, 3)), bits(torch_init(lo, 3, 3))), hi
    # kaiming bound vs 1/sqrt(fan_in) in float32
    for fan in range(1, 200001):
        assert np.float32(kaiming_bound(fan)) == np.float32(1 / math.sqrt(fan)), fan


def main():
    torch.set_num_threads(1)
    if "--live-only" in sys.argv:  # child run under another ATEN_CPU_CAPABILITY
        print(json.dumps({"capability": cpu_capability(), **count_mismatches(live_entries())}))
        return 0

    sanity_checks()
    print("sanity: MT19937 = init_genrand(seed & 0xffffffff); float32 bound == float32(1/sqrt(fan_in))")
    print("this process uses CPU capability:", cpu_capability())

    with open(TRAIN_JSON) as f:
        recorded = json.load(f)
    print("train.json generated with:", recorded["generator"])
    entries = [(e["seed"], e["kernel_size"][0], e["kernel_size"][1], np.array(e["weight"], dtype=np.float32))
               for e in recorded["init"]]
    # the recorded float64 numbers must be exact float32 values
    assert all(np.array_equal(np.array(e["weight"]), w.astype(np.float64)) for e, (_, _, _, w) in
               zip(recorded["init"], entries))
    r = count_mismatches(entries)
    print("recorded init (%d elements): mismatches fused=%d separate=%d" % (r["elements"], r["fused"], r["separate"]))

    r = count_mismatches(live_entries())
    print("live torch, %s (%d elements): mismatches fused=%d separate=%d"
          % (cpu_capability(), r["elements"], r["fused"], r["separate"]))

    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    child = subprocess.run([sys.executable, __file__, "--live-only"], env=env,
                           capture_output=True, text=True, check=True)
    r = json.loads(child.stdout.strip().splitlines()[-1])
    print("live torch, ATEN_CPU_CAPABILITY=default -> %s (%d elements): mismatches fused=%d separate=%d"
          % (r["capability"], r["elements"], r["fused"], r["separate"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
