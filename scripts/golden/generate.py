"""Generate golden test vectors for corr2d.

Run from the repository root with the system interpreter (it has PyTorch,
SciPy and NumPy installed from Debian packages):

    /usr/bin/python3 scripts/golden/generate.py

It writes two files into testdata/golden/:

* corr2d_valid.json -- 2-D cross-correlation ("valid" mode) in float64, each
  case computed twice: with torch.nn.functional.conv2d and with
  scipy.signal.correlate2d.
* train.json -- kernel learning as in d2l.ai chapter 6.2, run with PyTorch in
  float32 (initial kernel, loss before each update, final kernel), plus the
  initial weights of nn.Conv2d(1, 1, kernel_size, bias=False) for a set of
  seeds and kernel shapes (see scripts/golden/check_init.py for how those
  weights are derived from MT19937).

The output is deterministic: random inputs come from a seeded NumPy
generator, PyTorch runs single-threaded and every training run is seeded.
Floats are written with Python's repr, which round-trips exactly to float64
(float32 values are written as the float64 holding the same value).

Note: float32 results (train.json) and the init weights depend at the last-bit
level on the CPU kernels PyTorch picks; the "cpu_capability" field in the
"generator" block records which one was used (see check_init.py).
"""

import json
import math
import os
import re
import sys

import numpy as np
import scipy
import scipy.signal
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "testdata", "golden")

RNG_SEED = 20240601
NUM_RANDOM_CASES = 80
MAX_SIDE = 24


# ---------------------------------------------------------------------------
# helpers


def cpu_capability():
    """The ATen CPU kernel set in use (e.g. "AVX2"), parsed from the build config."""
    m = re.search(r"CPU capability usage: ([^\n]+)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def generator_info():
    return {
        "torch": torch.__version__,
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "cpu_capability": cpu_capability(),
    }


def to_list(a):
    """A 2-D array/tensor as nested lists of Python floats (shape kept)."""
    a = np.asarray(a.detach().cpu().numpy() if torch.is_tensor(a) else a)
    assert a.ndim == 2, a.shape
    assert np.all(np.isfinite(a)), "non-finite value"
    return [[float(v) for v in row] for row in a]


def write_json(path, generator, sections):
    """Write {"generator": ..., <name>: [items...]} with one list item per line.

    Compact enough to stay small, but still line-per-case for readable diffs.
    """
    parts = ['{\n"generator": ' + json.dumps(generator, allow_nan=False)]
    for name, items in sections:
        body = ",\n".join(json.dumps(it, allow_nan=False, separators=(",", ":")) for it in items)
        parts.append('"%s": [\n%s\n]' % (name, body))
    text = ",\n".join(parts) + "\n}\n"
    json.loads(text)  # sanity: valid JSON
    with open(path, "w") as f:
        f.write(text)
    return len(text)


# ---------------------------------------------------------------------------
# corr2d_valid.json


def torch_corr2d(x, k):
    """Cross-correlation via conv2d in float64; returns a 2-D array (never squeezed)."""
    xt = torch.tensor(x, dtype=torch.float64)[None, None]
    kt = torch.tensor(k, dtype=torch.float64)[None, None]
    return F.conv2d(xt, kt)[0, 0].numpy()


def scipy_corr2d(x, k):
    return scipy.signal.correlate2d(np.asarray(x, np.float64), np.asarray(k, np.float64), mode="valid")


def d2l_edge_input():
    x = np.ones((6, 8))
    x[:, 2:6] = 0.0
    return x


def draw_values(rng, shape, dist):
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, shape)
    if dist == "integers":
        return rng.integers(-9, 10, shape).astype(np.float64)
    if dist == "large":
        return rng.uniform(-1.0, 1.0, shape) * 1e6
    if dist == "tiny":
        return rng.uniform(-1.0, 1.0, shape) * 1e-6
    if dist == "lognormal":  # positive, wide dynamic range
        return rng.lognormal(0.0, 3.0, shape)
    raise ValueError(dist)


DISTRIBUTIONS = ["uniform", "integers", "large", "tiny", "lognormal"]


def corr2d_cases(rng):
    fixed = [
        ("d2l_3x3", np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]])),
        ("d2l_edge", d2l_edge_input(), np.array([[1.0, -1.0]])),
        ("d2l_edge_transposed", d2l_edge_input().T, np.array([[1.0, -1.0]])),
        ("1x1", np.array([[2.5]]), np.array([[-4.0]])),
        ("kernel_equals_input", rng.uniform(-1, 1, (4, 5)), rng.uniform(-1, 1, (4, 5))),
        ("row_vector", rng.uniform(-1, 1, (1, 9)), rng.uniform(-1, 1, (1, 3))),
        ("column_vector", rng.uniform(-1, 1, (9, 1)), rng.uniform(-1, 1, (3, 1))),
    ]
    cases = list(fixed)
    for i in range(NUM_RANDOM_CASES):
        h = int(rng.integers(1, MAX_SIDE + 1))
        w = int(rng.integers(1, MAX_SIDE + 1))
        kh = int(rng.integers(1, h + 1))
        kw = int(rng.integers(1, w + 1))
        xdist = DISTRIBUTIONS[i % len(DISTRIBUTIONS)]
        # mostly the same distribution for both, sometimes mixed (e.g. large x tiny)
        kdist = xdist if i % 3 else DISTRIBUTIONS[int(rng.integers(len(DISTRIBUTIONS)))]
        x = draw_values(rng, (h, w), xdist)
        k = draw_values(rng, (kh, kw), kdist)
        cases.append(("random_%02d_%s_%s_%dx%d_k%dx%d" % (i, xdist, kdist, h, w, kh, kw), x, k))

    out = []
    for name, x, k in cases:
        t = torch_corr2d(x, k)
        s = scipy_corr2d(x, k)
        expect_shape = (x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1)
        assert t.shape == expect_shape and s.shape == expect_shape, (name, t.shape, s.shape)
        scale = np.abs(x).max() * np.abs(k).sum() + 1e-300
        assert np.max(np.abs(t - s)) <= 1e-12 * scale, name  # torch and scipy agree
        out.append({"name": name, "input": to_list(x), "kernel": to_list(k),
                    "torch": to_list(t), "scipy": to_list(s)})

    by_name = {c["name"]: c for c in out}
    assert by_name["d2l_3x3"]["torch"] == [[19.0, 25.0], [37.0, 43.0]]
    assert by_name["d2l_3x3"]["scipy"] == [[19.0, 25.0], [37.0, 43.0]]
    assert by_name["d2l_edge"]["torch"] == [[0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0]] * 6
    assert by_name["d2l_edge_transposed"]["torch"] == [[0.0] * 5] * 8
    return out


# ---------------------------------------------------------------------------
# train.json


def train(name, x, y, kernel_size, lr, steps, loss, seed):
    """d2l 6.2 training loop in float32; returns the JSON case."""
    X = torch.tensor(x, dtype=torch.float32)[None, None]
    Y = torch.tensor(y, dtype=torch.float32)[None, None]
    torch.manual_seed(seed)
    conv = nn.Conv2d(1, 1, kernel_size=kernel_size, bias=False)
    init = conv.weight.detach().clone()
    losses = []
    for _ in range(steps):
        Y_hat = conv(X)
        l = (Y_hat - Y) ** 2
        L = l.sum() if loss == "sum" else l.mean()
        conv.zero_grad()
        L.backward()
        losses.append(float(L))  # loss before this step's update, as d2l prints it
        conv.weight.data[:] -= lr * conv.weight.grad
    assert all(math.isfinite(v) for v in losses), (name, losses)
    return {
        "name": name,
        "input": to_list(X[0, 0]),
        "target": to_list(Y[0, 0]),
        "kernel_size": list(kernel_size),
        "lr": float(lr),
        "steps": steps,
        "loss": loss,
        "seed": seed,
        "init_kernel": to_list(init[0, 0]),
        "losses": losses,
        "final_kernel": to_list(conv.weight.detach()[0, 0]),
    }


def float32_target(x, k):
    """Target for training: exact-ish float64 correlation rounded to float32."""
    return scipy_corr2d(x, k).astype(np.float32)


def train_cases(rng):
    x = d2l_edge_input().astype(np.float32)
    y = float32_target(x, np.array([[1.0, -1.0]]))  # 6x7, values in {-1, 0, 1}
    cases = []
    for seed in [0, 1, 42, 1234]:
        cases.append(train("d2l_edge_seed%d" % seed, x, y, (1, 2), 0.03, 10, "sum", seed))
    cases.append(train("d2l_edge_mean_seed42", x, y, (1, 2), 0.5, 10, "mean", 42))

    x = rng.uniform(-1, 1, (8, 9)).astype(np.float32)
    k_true = np.array([[0.5, -1.0], [2.0, 0.25]])
    cases.append(train("random_8x9_k2x2", x, float32_target(x, k_true), (2, 2), 0.01, 30, "sum", 7))

    x = rng.uniform(-1, 1, (10, 10)).astype(np.float32)
    k_true = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])  # Sobel
    cases.append(train("random_10x10_k3x3", x, float32_target(x, k_true), (3, 3), 0.005, 20, "sum", 3))

    x = rng.uniform(-1, 1, (5, 6)).astype(np.float32)
    cases.append(train("random_5x6_k1x1", x, float32_target(x, np.array([[2.5]])), (1, 1), 0.01, 15, "sum", 5))

    for c in cases:  # every run must make progress, not diverge
        assert c["losses"][-1] < c["losses"][0], c["name"]
    check_d2l_shape(cases)
    return cases


def check_d2l_shape(cases):
    """d2l prints losses that fall steadily and a kernel close to [1, -1]."""
    c = next(c for c in cases if c["name"] == "d2l_edge_seed42")
    ls = c["losses"]
    assert all(b < a for a, b in zip(ls, ls[1:])), ("not decreasing", ls)
    assert ls[-1] < 0.1 * ls[0], ls
    (k0, k1), = c["final_kernel"]
    assert abs(k0 - 1) < 0.2 and abs(k1 + 1) < 0.2, c["final_kernel"]


def init_cases():
    seeds = [0, 1, 42, 1234, 4294967295, 4294967296, 2**40 + 3]
    shapes = [(1, 2), (3, 3), (2, 5), (1, 1), (7, 7)]
    out = []
    for seed in seeds:
        for shape in shapes:
            torch.manual_seed(seed)
            conv = nn.Conv2d(1, 1, kernel_size=shape, bias=False)
            out.append({"seed": seed, "kernel_size": list(shape), "weight": to_list(conv.weight.detach()[0, 0])})
    return out


# ---------------------------------------------------------------------------


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(RNG_SEED)
    os.makedirs(OUT_DIR, exist_ok=True)
    gen = generator_info()

    corr = corr2d_cases(rng)
    n1 = write_json(os.path.join(OUT_DIR, "corr2d_valid.json"), gen, [("cases", corr)])

    tr = train_cases(rng)
    ini = init_cases()
    n2 = write_json(os.path.join(OUT_DIR, "train.json"), gen, [("cases", tr), ("init", ini)])

    print("generator:", gen)
    print("corr2d_valid.json: %d cases, %d bytes" % (len(corr), n1))
    print("train.json: %d training cases, %d init entries, %d bytes" % (len(tr), len(ini), n2))
    for c in tr:
        print("  %-22s k=%s lr=%g %s steps=%d  loss %.6g -> %.6g  final %s" % (
            c["name"], tuple(c["kernel_size"]), c["lr"], c["loss"], c["steps"],
            c["losses"][0], c["losses"][-1],
            [[round(v, 4) for v in row] for row in c["final_kernel"]]))
    d2l = next(c for c in tr if c["name"] == "d2l_edge_seed42")
    for i, v in enumerate(d2l["losses"]):
        if (i + 1) % 2 == 0:
            print("  d2l seed 42: epoch %d, loss %.3f" % (i + 1, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
