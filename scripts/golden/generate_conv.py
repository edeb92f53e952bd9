"""Golden vectors for general 2-D convolution (POST /corr2d and POST /train).

Run from the repository root with the system interpreter (Debian's
python3-torch 1.13 and python3-scipy; the first `python3` on PATH may lack
torch):

    /usr/bin/python3 scripts/golden/generate_conv.py

then check the init recipe against the written file and live PyTorch, and
replay every golden request from its literal body:

    /usr/bin/python3 scripts/golden/check_init_conv.py
    /usr/bin/python3 scripts/golden/check_conv_golden.py

It writes three NEW files into testdata/golden/ (corr2d_valid.json and
train.json from generate.py are not touched):

* conv2d.json -- forward convolutions.  "cases": {"name", "reference"
  ("torch" | "scipy"), "request" (a literal /corr2d body), "output" (nested,
  same rank as request.input)}; float32 cases also carry "output_float64": the
  same request evaluated exactly in float64 (the inputs are float32 values), so
  a test can see how far any float32 result is from the ideal one.
  Error cases follow in the same "cases" list (named "error_*"):
  {"name", "reference", "request", "error_field", "message"}, no "output": requests
  PyTorch or SciPy reject (verified here: the call really raises; "message" is
  what it said; error_field is the request field the service must name).
  "disputed": operation "convolve" with padding "same" where the total padding
  d*(k-1) of an axis is odd.  scipy.signal.convolve2d(mode="same") and "flip the
  kernel, then PyTorch's same padding" differ there (see disputed_cases());
  both outputs are recorded and no such request is in "cases".
* train_conv.json -- nn.Conv2d training runs (SGD/Adam), see train_case().
* init_conv.json -- nn.Conv2d(C, O, k, groups, bias, dtype) weights and biases
  right after torch.manual_seed(seed), float32 and float64.

Every output is also recomputed with an independent NumPy float64 reference
(explicit index folding for each padding mode, then a direct sum) and must
agree: float64 to 1e-12 of the magnitude sum, float32 to 1e-5.  That check is
what backs the padding-mode equivalences stated in the engine contract.

Deterministic: NumPy Generator seeded with RNG_SEED, single-threaded torch,
seeded training.  Floats are written with Python's repr (float32 values as the
float64 holding the same value).
"""

import math
import os
import re
import sys
import warnings

import numpy as np
import scipy.signal
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import generator_info, write_json  # noqa: E402  (sibling script)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "testdata", "golden")

RNG_SEED = 20240715
NUM_TORCH_RANDOM = 400
NUM_SCIPY_RANDOM = 160
MAX_SIDE = 12
MAX_OUT_ELEMS = 500  # keeps conv2d.json around 2-3 MB

TORCH_MODES = ["zeros", "reflect", "replicate", "circular"]
SCIPY_BOUNDARY = {"zeros": "fill", "circular": "wrap", "symmetric": "symm"}
NP_DTYPE = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}

# ---------------------------------------------------------------------------
# small helpers


def nested(a):
    """Any-rank array/tensor as nested lists of Python floats."""
    if torch.is_tensor(a):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.isfinite(a)), "non-finite value"
    return a.tolist()


def f32(a):
    """Round to float32 and back: values the service can hold exactly in float32."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def draw(rng, shape, dist, dtype):
    if dist == "dyadic":  # short decimal reprs, exact sums: k/64 in [-2, 2]
        v = rng.integers(-128, 129, shape) / 64.0
    elif dist == "integers":
        v = rng.integers(-9, 10, shape).astype(np.float64)
    elif dist == "uniform":
        v = rng.uniform(-1.0, 1.0, shape)
    elif dist == "wide":  # mixed magnitudes
        v = rng.uniform(-1.0, 1.0, shape) * 10.0 ** rng.integers(-3, 4, shape)
    else:
        raise ValueError(dist)
    return f32(v) if dtype == "float32" else v


def scalar(rng, dist, dtype):
    return float(draw(rng, (), dist, dtype))


# ---------------------------------------------------------------------------
# the semantics, independently in NumPy (float64)


def fold(idx, n, mode):
    """Map positions relative to the input start (may be <0 or >=n) to input indices."""
    if mode == "replicate":
        return np.clip(idx, 0, n - 1)
    if mode == "circular":
        return np.mod(idx, n)
    if mode == "symmetric":  # a b c d -> b a | a b c d | d c   (period 2n)
        m = np.mod(idx, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    if mode == "reflect":  # a b c d -> c b | a b c d | c b   (period 2n-2)
        if n == 1:
            return np.zeros_like(idx)
        m = np.mod(idx, 2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    raise ValueError(mode)


def np_pad(x4, pads, mode, fill):
    n, c, h, w = x4.shape
    t, b, l, r = pads
    if mode == "zeros":
        out = np.full((n, c, h + t + b, w + l + r), float(fill))
        out[:, :, t:t + h, l:l + w] = x4
        return out
    rows = fold(np.arange(-t, h + b), h, mode)
    cols = fold(np.arange(-l, w + r), w, mode)
    return x4[:, :, rows][:, :, :, cols]


def np_conv(xp, w4, bias, stride, dil, groups):
    """Direct correlation of an already padded N×C×Hp×Wp array, float64."""
    n, c, hp, wp = xp.shape
    o, cg, kh, kw = w4.shape
    (sh, sw), (dh, dw) = stride, dil
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    assert ho >= 1 and wo >= 1
    og = o // groups
    out = np.zeros((n, o, ho, wo))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w4[g * og:(g + 1) * og]
        for a in range(kh):
            for bb in range(kw):
                sl = xs[:, :, a * dh:a * dh + sh * (ho - 1) + 1:sh, bb * dw:bb * dw + sw * (wo - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", sl, ws[:, :, a, bb])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


# ---------------------------------------------------------------------------
# one convolution problem ("spec") -> request, geometry, outputs


def as4(x):
    """Input of rank 2/3/4 as N×C×H×W."""
    return x.reshape((1,) * (4 - x.ndim) + x.shape)


def kernel4(k):
    return k.reshape((1, 1) + k.shape) if k.ndim == 2 else k


def resolve_pads(spec, kh, kw):
    """Explicit [top, bottom, left, right] for the spec's padding."""
    (dh, dw) = spec["dilation"]
    p = spec["padding"]
    if p == "valid":
        return [0, 0, 0, 0]
    if p == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        return [th // 2, th - th // 2, tw // 2, tw - tw // 2]
    if p == "full":
        return [dh * (kh - 1)] * 2 + [dw * (kw - 1)] * 2
    if isinstance(p, int):
        return [p] * 4
    if len(p) == 2:
        return [p[0], p[0], p[1], p[1]]
    return list(p)


def geometry_ok(spec, shape4, kshape4):
    """The contract's validation rules (None if fine, else the failing field)."""
    n, c, h, w = shape4
    o, cg, kh, kw = kshape4
    g = spec["groups"]
    if c % g or o % g or cg != c // g:
        return "groups"
    if spec["padding"] == "same" and tuple(spec["stride"]) != (1, 1):
        return "padding"
    t, b, l, r = resolve_pads(spec, kh, kw)
    if min(t, b, l, r) < 0:
        return "padding"
    if spec["mode"] == "reflect" and (max(t, b) >= h or max(l, r) >= w):
        return "padding"
    dh, dw = spec["dilation"]
    if dh * (kh - 1) + 1 > h + t + b or dw * (kw - 1) + 1 > w + l + r:
        return "kernel"
    return None


def out_shape(spec, shape4, kshape4):
    n, c, h, w = shape4
    o, cg, kh, kw = kshape4
    t, b, l, r = resolve_pads(spec, kh, kw)
    (sh, sw), (dh, dw) = spec["stride"], spec["dilation"]
    return (n, o, (h + t + b - dh * (kh - 1) - 1) // sh + 1, (w + l + r - dw * (kw - 1) - 1) // sw + 1)


def pair_field(v, style):
    """stride/dilation as the request writes it: int, [a, b], or omitted (None) when 1."""
    a, b = v
    if style == "omit" and a == b == 1:
        return None
    if style in ("int", "omit") and a == b:
        return a
    return [a, b]


def build_request(spec):
    req = {"input": nested(spec["x"]), "kernel": nested(spec["k"])}
    s = pair_field(spec["stride"], spec.get("stride_style", "omit"))
    if s is not None:
        req["stride"] = s
    d = pair_field(spec["dilation"], spec.get("dilation_style", "omit"))
    if d is not None:
        req["dilation"] = d
    if spec["groups"] != 1 or spec.get("explicit_defaults"):
        req["groups"] = spec["groups"]
    p = spec["padding"]
    if not (p == "valid" and spec.get("omit_padding")):
        req["padding"] = list(p) if isinstance(p, tuple) else p
    if spec["mode"] != "zeros" or spec.get("explicit_defaults"):
        req["padding_mode"] = spec["mode"]
    if spec.get("fill", 0.0) != 0.0 or (spec.get("explicit_defaults") and spec["mode"] == "zeros"):
        req["fill_value"] = float(spec.get("fill", 0.0))
    if spec.get("bias") is not None:
        bv = spec["bias"]
        req["bias"] = float(bv) if np.ndim(bv) == 0 else [float(v) for v in bv]
    if spec["op"] != "correlate" or spec.get("explicit_defaults"):
        req["operation"] = spec["op"]
    if spec["dtype"] != "float64" or spec.get("explicit_defaults") or spec.get("explicit_dtype"):
        req["dtype"] = spec["dtype"]
    return req


def bias_vector(spec, o):
    bv = spec.get("bias")
    if bv is None:
        return None
    if np.ndim(bv) == 0:
        assert o == 1, "scalar bias only used with one output channel"
        return np.array([float(bv)])
    return np.asarray(bv, dtype=np.float64)


def effective_kernel(spec):
    k4 = kernel4(spec["k"])
    return k4[:, :, ::-1, ::-1].copy() if spec["op"] == "convolve" else k4


def reference_np(spec):
    """float64 output (rank 4) and magnitude scale, from the NumPy reference."""
    x4 = as4(spec["x"])
    k4 = effective_kernel(spec)
    pads = resolve_pads(spec, k4.shape[2], k4.shape[3])
    fill = spec.get("fill", 0.0)
    xp = np_pad(x4, pads, spec["mode"], fill)
    bias = bias_vector(spec, k4.shape[0])
    out = np_conv(xp, k4, bias, spec["stride"], spec["dilation"], spec["groups"])
    scale = np_conv(np.abs(xp), np.abs(k4), None if bias is None else np.abs(bias),
                    spec["stride"], spec["dilation"], spec["groups"])
    return out, scale


def torch_output(spec):
    """PyTorch: nn.Conv2d-style (F.pad for non-zero modes and asymmetric/filled pads, then conv2d)."""
    dt = TORCH_DTYPE[spec["dtype"]]
    x = torch.tensor(as4(spec["x"]), dtype=dt)
    w = torch.tensor(effective_kernel(spec), dtype=dt)
    b = bias_vector(spec, w.shape[0])
    b = None if b is None else torch.tensor(b, dtype=dt)
    t, bo, l, r = resolve_pads(spec, w.shape[2], w.shape[3])
    fill = spec.get("fill", 0.0)
    kw = dict(stride=tuple(spec["stride"]), dilation=tuple(spec["dilation"]), groups=spec["groups"])
    if spec["mode"] == "zeros" and fill == 0.0 and spec["padding"] in ("same", "valid"):
        y = F.conv2d(x, w, b, padding=spec["padding"], **kw)  # torch's own string padding
    elif spec["mode"] == "zeros" and fill == 0.0 and t == bo and l == r:
        y = F.conv2d(x, w, b, padding=(t, l), **kw)
    else:
        if spec["mode"] == "zeros":
            xp = F.pad(x, (l, r, t, bo), mode="constant", value=fill)
        else:
            xp = F.pad(x, (l, r, t, bo), mode=spec["mode"])
        y = F.conv2d(xp, w, b, padding=0, **kw)
    return y.numpy().astype(np.float64)


def scipy_output(spec):
    """scipy.signal.correlate2d/convolve2d on 2-D data (stride 1, dilation 1, one channel)."""
    npdt = NP_DTYPE[spec["dtype"]]
    x = as4(spec["x"])[0, 0].astype(npdt)
    k = kernel4(spec["k"])[0, 0].astype(npdt)
    fn = scipy.signal.convolve2d if spec["op"] == "convolve" else scipy.signal.correlate2d
    fill = spec.get("fill", 0.0)
    out = fn(x, k, mode=spec["scipy_mode"], boundary=SCIPY_BOUNDARY[spec["mode"]],
             fillvalue=npdt(fill))
    assert out.dtype == npdt, out.dtype
    b = bias_vector(spec, 1)
    if b is not None:
        out = out + npdt(b[0])
        assert out.dtype == npdt
    return out.astype(np.float64)[None, None]


def shape_out_rank(out4, in_rank):
    return out4[0, 0] if in_rank == 2 else (out4[0] if in_rank == 3 else out4)


def finish_case(name, spec, reference):
    if spec["dtype"] == "float32":  # every number in a float32 request is a float32 value
        for key in ("x", "k", "bias", "fill"):
            if spec.get(key) is not None:
                spec[key] = f32(spec[key]) if np.ndim(spec[key]) else float(f32(spec[key]))
    x4 = as4(spec["x"])
    k4 = kernel4(spec["k"])
    assert geometry_ok(spec, x4.shape, k4.shape) is None, (name, geometry_ok(spec, x4.shape, k4.shape))
    ref, scale = reference_np(spec)
    assert ref.shape == out_shape(spec, x4.shape, k4.shape), name
    got = torch_output(spec) if reference == "torch" else scipy_output(spec)
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    tol = 1e-12 if spec["dtype"] == "float64" else 1e-5
    err = np.abs(got - ref)
    assert np.all(err <= tol * scale + 1e-300), (name, float(np.max(err / (scale + 1e-300))))
    case = {"name": name, "reference": reference, "request": build_request(spec),
            "output": nested(shape_out_rank(got, spec["x"].ndim))}
    if spec["dtype"] == "float32":
        case["output_float64"] = nested(shape_out_rank(ref, spec["x"].ndim))
    return case


def ambiguous_convolve_same(spec):
    if spec["op"] != "convolve" or spec["padding"] != "same":
        return False
    k4 = kernel4(spec["k"])
    dh, dw = spec["dilation"]
    return (dh * (k4.shape[2] - 1)) % 2 == 1 or (dw * (k4.shape[3] - 1)) % 2 == 1


# ---------------------------------------------------------------------------
# random torch cases


def random_torch_spec(rng, i):
    dtype = "float32" if rng.random() < 0.3 else "float64"
    dist = ["dyadic", "uniform", "integers", "dyadic", "uniform", "wide"][i % 6]
    rank = int(rng.choice([2, 3, 4], p=[0.2, 0.25, 0.55]))
    while True:
        if rank == 2:
            n, c, groups, o = 1, 1, 1, 1
        else:
            n = 1 if rank == 3 else int(rng.integers(1, 4))
            c = int(rng.integers(1, 5))
            divisors = [g for g in range(1, c + 1) if c % g == 0]
            groups = int(rng.choice(divisors)) if rng.random() < 0.5 else 1
            o = groups * int(rng.integers(1, 4 // groups + 1))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        dil = tuple(int(v) for v in (rng.integers(1, 4, 2) if rng.random() < 0.4 else (1, 1)))
        if rng.random() < 0.2:
            dil = (dil[0], dil[0])
        stride = tuple(int(v) for v in (rng.integers(1, 4, 2) if rng.random() < 0.45 else (1, 1)))
        mode = TORCH_MODES[int(rng.integers(0, 4))]
        pform = str(rng.choice(["valid", "same", "full", "int", "pair", "quad"],
                               p=[0.15, 0.2, 0.1, 0.2, 0.15, 0.2]))
        if pform == "same" and stride != (1, 1):
            continue
        h, w = (int(v) for v in rng.integers(1, MAX_SIDE + 1, 2))
        if pform == "int":
            padding = int(rng.integers(0, 4))
        elif pform == "pair":
            padding = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
        elif pform == "quad":
            padding = tuple(int(v) for v in rng.integers(0, 4, 4))
        else:
            padding = pform
        spec = {"stride": stride, "dilation": dil, "groups": groups, "padding": padding, "mode": mode,
                "dtype": dtype, "op": "convolve" if rng.random() < 0.2 else "correlate"}
        if ambiguous_convolve_same(dict(spec, k=np.zeros((1, 1, kh, kw)))):
            continue
        shape4 = (n, c, h, w)
        kshape4 = (o, c // groups, kh, kw)
        if geometry_ok(spec, shape4, kshape4):
            continue
        pads = resolve_pads(spec, kh, kw)
        if mode == "circular" and (max(pads[:2]) > h or max(pads[2:]) > w):
            continue  # torch's circular pad wraps at most once (scipy cases cover more)
        os_ = out_shape(spec, shape4, kshape4)
        if np.prod(os_) > MAX_OUT_ELEMS or n * c * h * w > MAX_OUT_ELEMS:
            continue
        break
    x = draw(rng, shape4, dist, dtype)
    x = x.reshape(shape4[4 - rank:])
    if o == 1 and c // groups == 1 and rng.random() < 0.6:
        k = draw(rng, (kh, kw), dist, dtype)  # 2-D kernel
    else:
        k = draw(rng, kshape4, dist, dtype)
    spec.update(x=x, k=k)
    if mode == "zeros" and rng.random() < 0.25 and pform != "valid":
        spec["fill"] = scalar(rng, "dyadic", dtype)
    r = rng.random()
    if r < 0.3:
        spec["bias"] = draw(rng, (o,), dist, dtype)
    elif r < 0.45 and o == 1:
        spec["bias"] = scalar(rng, dist, dtype)
    spec["stride_style"] = str(rng.choice(["omit", "int", "list"]))
    spec["dilation_style"] = str(rng.choice(["omit", "int", "list"]))
    spec["omit_padding"] = bool(rng.random() < 0.5)
    spec["explicit_defaults"] = bool(rng.random() < 0.1)
    spec["explicit_dtype"] = bool(rng.random() < 0.3)
    name = "torch_%03d_r%d_n%dc%do%dg%d_%dx%d_k%dx%d_s%d%d_d%d%d_%s_%s_%s_%s" % (
        i, rank, n, c, o, groups, h, w, kh, kw, stride[0], stride[1], dil[0], dil[1],
        pform, mode, spec["op"], dtype)
    return name, spec


# ---------------------------------------------------------------------------
# random scipy cases (2-D)


def random_scipy_spec(rng, i):
    dtype = "float32" if rng.random() < 0.35 else "float64"
    dist = ["dyadic", "uniform", "integers", "uniform", "wide"][i % 5]
    mode = ["zeros", "circular", "symmetric"][i % 3]
    smode = ["valid", "same", "full"][(i // 3) % 3]
    op = "convolve" if (i // 9) % 2 else "correlate"
    while True:
        h, w = (int(v) for v in rng.integers(1, MAX_SIDE + 1, 2))
        if smode == "valid":
            kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        else:  # kernels larger than the input are fine (folding repeats)
            kh, kw = (int(v) for v in rng.integers(1, 10, 2))
        if op == "convolve" and smode == "same" and ((kh - 1) % 2 or (kw - 1) % 2):
            continue  # disputed, see disputed_cases()
        spec = {"stride": (1, 1), "dilation": (1, 1), "groups": 1, "padding": smode, "mode": mode,
                "dtype": dtype, "op": op, "scipy_mode": smode}
        pads = resolve_pads(spec, kh, kw)
        if (h + pads[0] + pads[1]) * (w + pads[2] + pads[3]) > MAX_OUT_ELEMS * 2:
            continue
        break
    # sometimes spell the padding explicitly (same geometry): explicit pads with symmetric/circular
    form = int(rng.integers(0, 4))
    if smode != "valid" and form == 1:
        spec["padding"] = tuple(pads)
    elif smode == "full" and form == 2:
        spec["padding"] = (pads[0], pads[2]) if pads[0] != pads[2] else pads[0]
    elif smode == "valid" and form == 2:
        spec["padding"] = 0
    x = draw(rng, (h, w), dist, dtype)
    spec["x"] = x if rng.random() < 0.8 else x.reshape(1, h, w)  # sometimes 3-D 1×H×W
    spec["k"] = draw(rng, (kh, kw), dist, dtype)
    if rng.random() < 0.2:
        spec["k"] = spec["k"].reshape(1, 1, kh, kw)
    if mode == "zeros" and rng.random() < 0.5:
        spec["fill"] = scalar(rng, "dyadic", dtype)
    if rng.random() < 0.3:
        spec["bias"] = scalar(rng, dist, dtype) if rng.random() < 0.5 else draw(rng, (1,), dist, dtype)
    spec["explicit_dtype"] = bool(rng.random() < 0.3)
    spec["omit_padding"] = bool(rng.random() < 0.5)
    name = "scipy_%03d_%dx%d_k%dx%d_%s_%s_%s_%s" % (i, h, w, kh, kw, smode, SCIPY_BOUNDARY[mode], op, dtype)
    return name, spec


# ---------------------------------------------------------------------------
# named edge cases


def base_spec(x, k, **kw):
    spec = {"x": np.asarray(x, dtype=np.float64), "k": np.asarray(k, dtype=np.float64),
            "stride": (1, 1), "dilation": (1, 1), "groups": 1, "padding": "valid", "mode": "zeros",
            "dtype": "float64", "op": "correlate"}
    spec.update(kw)
    for key in ("stride", "dilation"):
        if isinstance(spec[key], int):
            spec[key] = (spec[key], spec[key])
            spec[key + "_style"] = "int"
    return spec


def edge_cases(rng):
    u = lambda *s: rng.uniform(-1, 1, s)  # noqa: E731
    d = lambda *s: rng.integers(-128, 129, s) / 64.0  # noqa: E731
    E = []  # (name, reference, spec)
    E.append(("edge_1x1_input_1x1_kernel", "torch", base_spec([[2.5]], [[-4.0]])))
    E.append(("edge_1x1_rank3", "torch", base_spec([[[2.5]]], [[-4.0]])))
    E.append(("edge_1x1_rank4_bias", "torch", base_spec([[[[2.5]]]], [[[[-4.0]]]], bias=[0.5])))
    E.append(("edge_1x1_float32", "torch", base_spec([[0.1]], [[3.0]], dtype="float32")))
    for p in ("same", "full"):
        for m in ("zeros", "circular", "symmetric"):
            E.append(("edge_1x1_scipy_%s_%s" % (p, m), "scipy",
                      base_spec([[2.5]], [[-4.0]], padding=p, mode=m, scipy_mode=p)))
    E.append(("edge_1x1_reflect_pad0", "torch", base_spec([[2.5]], [[-4.0]], mode="reflect", padding=0)))
    E.append(("edge_1x1_replicate_pad3", "torch", base_spec([[2.5]], [[-4.0]], mode="replicate", padding=3)))
    E.append(("edge_1x1_input_3x3_kernel_same_replicate", "torch",
              base_spec([[2.0]], d(3, 3), mode="replicate", padding="same")))
    E.append(("edge_1x1_input_3x3_kernel_full_zeros", "torch", base_spec([[2.0]], d(3, 3), padding="full")))
    E.append(("edge_kernel_equals_input", "torch", base_spec(u(5, 7), u(5, 7))))
    E.append(("edge_kernel_equals_input_multichannel", "torch",
              base_spec(u(2, 3, 4, 5), u(4, 3, 4, 5), bias=u(4))))
    E.append(("edge_kernel_equals_input_scipy", "scipy", base_spec(u(4, 6), u(4, 6), scipy_mode="valid")))
    E.append(("edge_kernel_equals_input_float32", "torch",
              base_spec(f32(u(6, 6)), f32(u(6, 6)), dtype="float32")))
    # reflect at PyTorch's limit: pad = size - 1 on every side
    E.append(("edge_reflect_pad_size_minus_1", "torch", base_spec(d(4, 5), d(2, 2), mode="reflect", padding=(3, 3, 4, 4))))
    E.append(("edge_reflect_pad_size_minus_1_pair", "torch",
              base_spec(u(3, 3, 6), u(2, 3, 3, 3), mode="reflect", padding=(2, 5), stride=(2, 3))))
    E.append(("edge_reflect_2x2_pad1_same_k3", "torch", base_spec(d(2, 2), d(3, 3), mode="reflect", padding="same")))
    E.append(("edge_reflect_1xW_pad0_rows", "torch", base_spec(d(1, 7), d(1, 3), mode="reflect", padding=(0, 2))))
    E.append(("edge_reflect_same_even_kernel", "torch", base_spec(d(5, 6), d(4, 2), mode="reflect", padding="same")))
    E.append(("edge_reflect_same_dilated", "torch",
              base_spec(d(1, 2, 7, 7), d(2, 2, 3, 3), mode="reflect", padding="same", dilation=(3, 2))))
    # circular: torch wraps at most once (pad == size), scipy wrap folds repeatedly
    E.append(("edge_circular_pad_equals_size", "torch", base_spec(d(3, 4), d(3, 3), mode="circular", padding=(3, 3, 4, 4))))
    E.append(("edge_circular_full_kernel_larger_than_input", "scipy",
              base_spec(d(2, 3), d(7, 8), mode="circular", padding="full", scipy_mode="full")))
    E.append(("edge_circular_same_kernel_larger_than_input", "scipy",
              base_spec(d(3, 2), d(8, 9), mode="circular", padding="same", scipy_mode="same")))
    E.append(("edge_circular_explicit_pad_3x_size", "scipy",
              base_spec(d(2, 2), d(7, 7), mode="circular", padding=6, scipy_mode="full")))
    E.append(("edge_symmetric_full_kernel_larger_than_input", "scipy",
              base_spec(d(2, 3), d(9, 7), mode="symmetric", padding="full", scipy_mode="full")))
    E.append(("edge_symmetric_same_kernel_larger_than_input", "scipy",
              base_spec(d(3, 1), d(8, 5), mode="symmetric", padding="same", scipy_mode="same")))
    E.append(("edge_symmetric_1x1_input_big_kernel", "scipy",
              base_spec([[1.5]], d(4, 5), mode="symmetric", padding="full", scipy_mode="full")))
    E.append(("edge_symmetric_convolve_full", "scipy",
              base_spec(d(4, 5), d(3, 2), mode="symmetric", padding="full", scipy_mode="full", op="convolve")))
    E.append(("edge_replicate_pad_far_beyond_size", "torch",
              base_spec(d(2, 3), d(3, 3), mode="replicate", padding=(9, 1, 0, 11))))
    E.append(("edge_replicate_full_dilated", "torch",
              base_spec(d(3, 3), d(3, 2), mode="replicate", padding="full", dilation=3)))
    # stride larger than kernel / than the input
    E.append(("edge_stride_larger_than_kernel", "torch", base_spec(u(9, 11), u(2, 2), stride=(3, 3))))
    E.append(("edge_stride_larger_than_input", "torch", base_spec(u(3, 4), u(2, 2), stride=(5, 7))))
    E.append(("edge_stride_asymmetric_padded", "torch",
              base_spec(u(2, 2, 7, 8), u(3, 2, 2, 3), stride=(3, 1), padding=(1, 2), bias=u(3))))
    # dilation stretching the kernel exactly to the input
    E.append(("edge_dilation_kernel_spans_input", "torch", base_spec(u(7, 9), u(3, 5), dilation=(3, 2))))
    E.append(("edge_dilation_spans_input_multichannel", "torch",
              base_spec(u(2, 3, 5, 5), u(2, 3, 3, 3), dilation=2, bias=u(2))))
    E.append(("edge_dilation_spans_padded_input", "torch",
              base_spec(u(5, 5), u(3, 3), dilation=3, padding=1, mode="replicate")))
    # same with even kernels: PyTorch puts the odd extra at the bottom/right
    E.append(("edge_same_even_kernel_zeros", "torch", base_spec(d(5, 6), d(2, 4), padding="same")))
    E.append(("edge_same_even_kernel_scipy", "scipy", base_spec(d(5, 6), d(2, 4), padding="same", scipy_mode="same")))
    E.append(("edge_same_even_kernel_circular", "torch", base_spec(d(5, 6), d(4, 4), padding="same", mode="circular")))
    E.append(("edge_same_even_kernel_replicate_float32", "torch",
              base_spec(f32(u(5, 6)), f32(u(2, 2)), padding="same", mode="replicate", dtype="float32")))
    E.append(("edge_same_dilation2_even_kernel", "torch", base_spec(d(6, 6), d(2, 2), padding="same", dilation=2)))
    E.append(("edge_same_dilation3_even_kernel", "torch", base_spec(d(7, 7), d(2, 2), padding="same", dilation=3)))
    # groups
    E.append(("edge_depthwise_c4", "torch", base_spec(u(2, 4, 6, 6), u(4, 1, 3, 3), groups=4, bias=u(4))))
    E.append(("edge_depthwise_multiplier2", "torch", base_spec(u(1, 2, 5, 5), u(4, 1, 2, 2), groups=2)))
    E.append(("edge_groups2_c4_o2", "torch", base_spec(u(3, 4, 5, 4), u(2, 2, 3, 2), groups=2, padding=1)))
    E.append(("edge_groups2_c4_o4_unbatched", "torch",
              base_spec(u(4, 6, 6), u(4, 2, 3, 3), groups=2, padding="same", mode="reflect", bias=u(4))))
    E.append(("edge_groups4_float32", "torch",
              base_spec(f32(u(1, 4, 5, 5)), f32(u(4, 1, 3, 3)), groups=4, dtype="float32", padding="full")))
    # bias forms
    E.append(("edge_bias_scalar", "torch", base_spec(d(4, 4), d(2, 2), bias=1.25)))
    E.append(("edge_bias_list_one", "torch", base_spec(d(4, 4), d(2, 2), bias=[-0.5])))
    E.append(("edge_bias_list_four", "torch", base_spec(u(2, 2, 4, 4), u(4, 2, 2, 2), bias=[1.0, -2.0, 0.5, 0.0])))
    # fill_value (zeros mode only)
    E.append(("edge_fill_value_torch_asymmetric", "torch", base_spec(d(3, 4), d(2, 3), padding=(2, 0, 1, 3), fill=2.5)))
    E.append(("edge_fill_value_torch_multichannel", "torch",
              base_spec(u(2, 2, 4, 4), u(2, 2, 3, 3), padding=1, fill=-1.0, bias=u(2))))
    E.append(("edge_fill_value_scipy_full", "scipy", base_spec(d(3, 4), d(3, 3), padding="full", fill=2.5, scipy_mode="full")))
    E.append(("edge_fill_value_scipy_same_convolve", "scipy",
              base_spec(d(4, 4), d(3, 3), padding="same", fill=-0.75, scipy_mode="same", op="convolve")))
    E.append(("edge_fill_value_valid_ignored", "torch", base_spec(d(3, 4), d(2, 2), padding="valid", fill=9.0)))
    # convolve
    E.append(("edge_convolve_torch_multichannel", "torch",
              base_spec(u(2, 3, 6, 7), u(2, 3, 2, 3), op="convolve", stride=(2, 1), dilation=(1, 2), padding=(1, 0, 2, 1))))
    E.append(("edge_convolve_scipy_valid", "scipy", base_spec(d(5, 6), d(2, 3), op="convolve", scipy_mode="valid")))
    E.append(("edge_convolve_scipy_full_wrap", "scipy",
              base_spec(d(3, 5), d(4, 2), op="convolve", padding="full", mode="circular", scipy_mode="full")))
    E.append(("edge_convolve_same_odd_kernel_scipy", "scipy",
              base_spec(d(5, 6), d(3, 5), op="convolve", padding="same", scipy_mode="same")))
    E.append(("edge_convolve_same_odd_kernel_torch", "torch",
              base_spec(d(5, 6), d(3, 5), op="convolve", padding="same")))
    E.append(("edge_convolve_d2l_edge", "torch", base_spec(np.hstack([np.ones((6, 2)), np.zeros((6, 4)), np.ones((6, 2))]),
                                                           [[1.0, -1.0]], op="convolve")))
    # rank / shape forms
    E.append(("edge_rank2_input_4d_kernel", "torch", base_spec(d(5, 5), d(1, 1, 3, 3), padding=1)))
    E.append(("edge_rank3_c1_2d_kernel", "torch", base_spec(d(1, 5, 5), d(3, 3))))
    E.append(("edge_rank4_n3_c1_2d_kernel", "torch", base_spec(d(3, 1, 4, 5), d(2, 2), bias=0.5)))
    E.append(("edge_row_vector_same", "torch", base_spec(d(1, 9), d(1, 4), padding="same")))
    E.append(("edge_column_vector_full_scipy", "scipy", base_spec(d(9, 1), d(3, 1), padding="full", scipy_mode="full")))
    E.append(("edge_padding_quad_zero", "torch", base_spec(d(4, 4), d(2, 2), padding=(0, 0, 0, 0))))
    E.append(("edge_padding_int_zero", "torch", base_spec(d(4, 4), d(2, 2), padding=0)))
    E.append(("edge_padding_quad_asymmetric_reflect", "torch",
              base_spec(d(5, 4), d(2, 2), padding=(0, 3, 2, 0), mode="reflect")))
    E.append(("edge_all_defaults_explicit", "torch", base_spec(d(4, 5), d(2, 2), explicit_defaults=True)))
    # magnitudes
    E.append(("edge_large_values", "torch", base_spec(u(6, 6) * 1e6, u(3, 3) * 1e6)))
    E.append(("edge_tiny_values", "torch", base_spec(u(6, 6) * 1e-6, u(3, 3) * 1e-6)))
    E.append(("edge_cancellation_float32", "torch",
              base_spec(f32(np.array([[1e4, 1.0, -1e4, 1.0]] * 3)), [[1.0, 1.0, 1.0]], dtype="float32")))
    return E


def disputed_cases(rng):
    """convolve + same with an odd total padding: scipy and flip-then-same disagree."""
    out = []
    for i, (h, w, kh, kw, dh, dw) in enumerate([(5, 6, 2, 2, 1, 1), (5, 6, 3, 4, 1, 1), (6, 7, 4, 3, 1, 1),
                                                (3, 3, 5, 6, 1, 1), (4, 4, 4, 4, 1, 1), (6, 6, 2, 3, 3, 1)]):
        x = rng.integers(-128, 129, (h, w)) / 64.0
        k = rng.integers(-128, 129, (kh, kw)) / 64.0
        spec = base_spec(x, k, op="convolve", padding="same", dilation=(dh, dw), scipy_mode="same")
        assert ambiguous_convolve_same(spec)
        t = torch_output(spec)  # flip, then PyTorch's same split (extra bottom/right)
        ref, _ = reference_np(spec)
        assert np.allclose(t, ref, rtol=0, atol=1e-12)
        entry = {"name": "disputed_convolve_same_%dx%d_k%dx%d_d%d%d" % (h, w, kh, kw, dh, dw),
                 "request": build_request(spec), "flip_then_same": nested(t[0, 0])}
        if (dh, dw) == (1, 1):
            s = scipy.signal.convolve2d(x, k, mode="same")
            # scipy == flip, then same with the odd extra at the TOP/LEFT
            th, tw = kh - 1, kw - 1
            alt = np_conv(np_pad(x[None, None], [th - th // 2, th // 2, tw - tw // 2, tw // 2], "zeros", 0.0),
                          k[::-1, ::-1][None, None], None, (1, 1), (1, 1), 1)[0, 0]
            assert np.allclose(s, alt, rtol=0, atol=1e-12)
            assert not np.allclose(s, t[0, 0]), "expected a difference"
            entry["scipy_convolve2d_same"] = nested(s)
        out.append(entry)
    return out


# ---------------------------------------------------------------------------
# error cases


def raises(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any rejection counts
        msg = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:200])
        # messages quoting a Python set vary with hash randomization: sort the members
        return re.sub(r"\{([^}]*)\}", lambda m: "{%s}" % ", ".join(sorted(m.group(1).split(", "))), msg)
    raise AssertionError("expected an exception")


def T(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def error_cases(rng):
    d = lambda *s: rng.integers(-128, 129, s) / 64.0  # noqa: E731
    x4 = d(1, 2, 5, 5)
    w4 = d(2, 2, 3, 3)
    x2 = d(5, 5)
    k2 = d(3, 3)
    X4, W4, X2, K2 = T(x4), T(w4), T(x2)[None, None], T(k2)[None, None]
    R = []  # (name, reference, request, field, verify)

    def add(name, req, field, fn, ref="torch"):
        R.append((name, ref, req, field, fn))

    b = {"input": nested(x4), "kernel": nested(w4)}
    b2 = {"input": nested(x2), "kernel": nested(k2)}
    add("same_with_stride2", dict(b, padding="same", stride=2), "padding",
        lambda: F.conv2d(X4, W4, padding="same", stride=2))
    add("same_with_stride_1_2", dict(b2, padding="same", stride=[1, 2]), "padding",
        lambda: F.conv2d(X2, K2, padding="same", stride=(1, 2)))
    add("same_with_stride2_reflect", dict(b2, padding="same", stride=[2, 1], padding_mode="reflect"), "padding",
        lambda: nn.Conv2d(1, 1, 3, padding="same", stride=(2, 1), padding_mode="reflect"))
    add("negative_padding_int", dict(b, padding=-1), "padding", lambda: F.conv2d(X4, W4, padding=-1))
    add("negative_padding_pair", dict(b, padding=[1, -1]), "padding", lambda: F.conv2d(X4, W4, padding=(1, -1)))
    add("negative_padding_quad", dict(b, padding=[1, 1, -2, -2]), "padding", lambda: F.conv2d(X4, W4, padding=(1, -2)))
    add("padding_three_values", dict(b, padding=[1, 2, 3]), "padding", lambda: F.conv2d(X4, W4, padding=(1, 2, 3)))
    add("padding_unknown_string", dict(b, padding="half"), "padding", lambda: F.conv2d(X4, W4, padding="half"))
    add("padding_unknown_string_scipy", dict(b2, padding="foo"), "padding",
        lambda: scipy.signal.correlate2d(x2, k2, mode="foo"), "scipy")
    add("reflect_pad_equals_height", dict(b, padding=[5, 0], padding_mode="reflect"), "padding",
        lambda: F.pad(X4, (0, 0, 5, 5), mode="reflect"))
    add("reflect_pad_equals_width_one_side", dict(b, padding=[0, 0, 0, 5], padding_mode="reflect"), "padding",
        lambda: F.pad(X4, (0, 5, 0, 0), mode="reflect"))
    add("reflect_pad_exceeds_size", dict(b2, padding=7, padding_mode="reflect"), "padding",
        lambda: F.pad(X2, (7, 7, 7, 7), mode="reflect"))
    xs = d(2, 2)
    add("reflect_same_kernel5_on_2x2", {"input": nested(xs), "kernel": nested(d(5, 5)), "padding": "same",
                                         "padding_mode": "reflect"}, "padding",
        lambda: nn.Conv2d(1, 1, 5, padding="same", padding_mode="reflect", dtype=torch.float64)(T(xs)[None, None]))
    add("reflect_full_kernel_taller_than_input", {"input": nested(d(2, 3)), "kernel": nested(d(3, 2)), "padding": "full",
                                                  "padding_mode": "reflect"}, "padding",
        lambda: F.pad(T(d(2, 3))[None, None], (1, 1, 2, 2), mode="reflect"))
    add("channels_not_divisible_by_groups", {"input": nested(d(1, 3, 4, 4)), "kernel": nested(d(2, 1, 2, 2)),
                                             "groups": 2}, "groups",
        lambda: F.conv2d(T(d(1, 3, 4, 4)), T(d(2, 1, 2, 2)), groups=2))
    add("out_channels_not_divisible_by_groups", {"input": nested(d(1, 2, 4, 4)), "kernel": nested(d(3, 1, 2, 2)),
                                                 "groups": 2}, "groups",
        lambda: F.conv2d(T(d(1, 2, 4, 4)), T(d(3, 1, 2, 2)), groups=2))
    add("groups_zero", dict(b, groups=0), "groups", lambda: F.conv2d(X4, W4, groups=0))
    add("groups_negative", dict(b, groups=-2), "groups", lambda: F.conv2d(X4, W4, groups=-2))
    add("groups_nn_module_in_channels", {"input": nested(d(1, 3, 4, 4)), "kernel": nested(d(3, 1, 2, 2)),
                                         "groups": 2}, "groups",
        lambda: nn.Conv2d(3, 3, 2, groups=2))
    add("kernel_channels_mismatch", {"input": nested(x4), "kernel": nested(d(2, 3, 3, 3))}, "kernel",
        lambda: F.conv2d(X4, T(d(2, 3, 3, 3))))
    add("kernel_channels_mismatch_groups", {"input": nested(d(1, 4, 4, 4)), "kernel": nested(d(2, 4, 2, 2)),
                                            "groups": 2}, "kernel",
        lambda: F.conv2d(T(d(1, 4, 4, 4)), T(d(2, 4, 2, 2)), groups=2))
    add("kernel_larger_than_input", dict(b2, kernel=nested(d(6, 3))), "kernel",
        lambda: F.conv2d(X2, T(d(6, 3))[None, None]))
    add("kernel_larger_than_input_both_axes", dict(b2, kernel=nested(d(6, 7))), "kernel",
        lambda: F.conv2d(X2, T(d(6, 7))[None, None]))  # scipy 'valid' would silently swap the operands here
    add("kernel_larger_than_padded_input", dict(b2, kernel=nested(d(8, 3)), padding=1), "kernel",
        lambda: F.conv2d(X2, T(d(8, 3))[None, None], padding=1))
    add("dilated_kernel_larger_than_input", dict(b, dilation=3), "kernel", lambda: F.conv2d(X4, W4, dilation=3))
    add("dilated_kernel_larger_than_padded_input", dict(b2, dilation=[1, 4], padding=[0, 1]), "kernel",
        lambda: F.conv2d(X2, K2, dilation=(1, 4), padding=(0, 1)))
    add("scipy_valid_kernel_taller_but_narrower", dict(b2, kernel=nested(d(6, 2))), "kernel",
        lambda: scipy.signal.correlate2d(x2, d(6, 2), mode="valid"), "scipy")
    add("scipy_convolve_valid_kernel_wider_but_shorter", dict(b2, kernel=nested(d(2, 6)), operation="convolve"), "kernel",
        lambda: scipy.signal.convolve2d(x2, d(2, 6), mode="valid"), "scipy")
    add("kernel_empty_row", dict(b2, kernel=[[]]), "kernel",
        lambda: F.conv2d(X2, torch.zeros(1, 1, 1, 0, dtype=torch.float64)))
    add("kernel_rank3", dict(b, kernel=nested(d(2, 3, 3))), "kernel", lambda: F.conv2d(X4, T(d(2, 3, 3))))
    add("input_rank5", {"input": nested(d(1, 1, 1, 4, 4)), "kernel": nested(d(2, 2))}, "input",
        lambda: F.conv2d(T(d(1, 1, 1, 4, 4)), T(d(1, 1, 2, 2))))
    add("input_empty_row", {"input": [[]], "kernel": [[1.0]]}, "input",
        lambda: F.conv2d(torch.zeros(1, 1, 1, 0, dtype=torch.float64), torch.ones(1, 1, 1, 1, dtype=torch.float64)))
    add("stride_zero", dict(b, stride=0), "stride", lambda: F.conv2d(X4, W4, stride=0))
    add("stride_zero_one_axis", dict(b, stride=[1, 0]), "stride", lambda: F.conv2d(X4, W4, stride=(1, 0)))
    add("stride_negative", dict(b2, stride=-1), "stride", lambda: F.conv2d(X2, K2, stride=-1))
    add("stride_three_values", dict(b2, stride=[1, 1, 1]), "stride", lambda: F.conv2d(X2, K2, stride=(1, 1, 1)))
    add("dilation_zero", dict(b, dilation=0), "dilation", lambda: F.conv2d(X4, W4, dilation=0))
    add("dilation_negative_one_axis", dict(b2, dilation=[1, -2]), "dilation", lambda: F.conv2d(X2, K2, dilation=(1, -2)))
    add("bias_wrong_length", dict(b, bias=[1.0, 2.0, 3.0]), "bias", lambda: F.conv2d(X4, W4, T([1.0, 2.0, 3.0])))
    add("bias_too_short", dict(b, bias=[1.0]), "bias", lambda: F.conv2d(X4, W4, T([1.0])))
    add("bias_nested", dict(b2, bias=[[1.0]]), "bias", lambda: F.conv2d(X2, K2, T([[1.0]])))
    add("padding_mode_unknown", dict(b, padding=1, padding_mode="mirror"), "padding_mode",
        lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="mirror"))
    add("padding_mode_unknown_scipy", dict(b2, padding="same", padding_mode="edge"), "padding_mode",
        lambda: scipy.signal.correlate2d(x2, k2, mode="same", boundary="edge"), "scipy")
    add("fill_value_with_reflect", dict(b, padding=1, padding_mode="reflect", fill_value=1.0), "fill_value",
        lambda: F.pad(X4, (1, 1, 1, 1), mode="reflect", value=1.0))
    add("fill_value_with_circular", dict(b2, padding="same", padding_mode="circular", fill_value=2.0), "fill_value",
        lambda: F.pad(X2, (1, 1, 1, 1), mode="circular", value=2.0))
    add("fill_value_with_replicate", dict(b2, padding=2, padding_mode="replicate", fill_value=-1.0), "fill_value",
        lambda: F.pad(X2, (2, 2, 2, 2), mode="replicate", value=-1.0))
    add("fill_value_not_scalar", dict(b2, padding="full", fill_value=[1.0, 2.0]), "fill_value",
        lambda: scipy.signal.correlate2d(x2, k2, mode="full", fillvalue=[1.0, 2.0]), "scipy")
    out = []
    for name, ref, req, field, fn in R:
        msg = raises(fn)
        out.append({"name": "error_" + name, "reference": ref, "request": req, "error_field": field, "message": msg})
    return out


# ---------------------------------------------------------------------------
# conv2d.json


def conv2d_cases(rng):
    cases = []
    for name, ref, spec in edge_cases(rng):
        if ref == "scipy":
            spec.setdefault("scipy_mode", spec["padding"] if isinstance(spec["padding"], str) else "full")
        cases.append(finish_case(name, spec, ref))
    for i in range(NUM_TORCH_RANDOM):
        name, spec = random_torch_spec(rng, i)
        cases.append(finish_case(name, spec, "torch"))
    for i in range(NUM_SCIPY_RANDOM):
        name, spec = random_scipy_spec(rng, i)
        cases.append(finish_case(name, spec, "scipy"))
    # Their own generator, so that adding them changed no other case.
    for name, spec in stem_cases(np.random.default_rng(RNG_SEED + 3)):
        cases.append(finish_case(name, spec, "torch"))
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))
    return cases


def stem_cases(rng):
    """Stride-2 layers with 5x5 to 8x8 kernels, like a network's 7x7 stem."""
    u = lambda *s: rng.uniform(-1, 1, s)  # noqa: E731
    S = []
    for dtype in ("float32", "float64"):
        S.append(("stem_7x7_s2_p3_c3_o4_bias_%s" % dtype,
                  base_spec(u(1, 3, 22, 22), u(4, 3, 7, 7), stride=(2, 2), padding=3, bias=list(u(4)), dtype=dtype)))
    S.append(("stem_5x5_s2_reflect_float32",
              base_spec(u(1, 2, 17, 19), u(3, 2, 5, 5), stride=(2, 2), padding=2, mode="reflect", dtype="float32")))
    S.append(("stem_8x6_s2_replicate_convolve_float32",
              base_spec(u(2, 2, 14, 15), u(3, 2, 8, 6), stride=(2, 2), padding=(3, 4, 2, 3), mode="replicate",
                        op="convolve", dtype="float32")))
    S.append(("stem_7x7_s2_groups2_float32",
              base_spec(u(1, 4, 16, 18), u(4, 2, 7, 7), stride=(2, 2), padding=3, groups=2, dtype="float32")))
    return S


def cross_check_torch_scipy(rng):
    """Where both libraries apply, they agree (float64): fill/zeros and wrap/circular, same and full."""
    n = 0
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 9, 2))
        kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        x, k = rng.uniform(-1, 1, (h, w)), rng.uniform(-1, 1, (kh, kw))
        for smode in ("valid", "same", "full"):
            for mode in ("zeros", "circular"):
                spec = base_spec(x, k, padding=smode, mode=mode, scipy_mode=smode)
                pads = resolve_pads(spec, kh, kw)
                if mode == "circular" and (max(pads[:2]) > h or max(pads[2:]) > w):
                    continue
                a, b = torch_output(spec), scipy_output(spec)
                assert np.allclose(a, b, rtol=1e-12, atol=1e-12), (h, w, kh, kw, smode, mode)
                n += 1
    return n


# ---------------------------------------------------------------------------
# train_conv.json


def hessian_lmax(conv, X, Y, loss):
    """Largest eigenvalue of the (constant) Hessian of the quadratic loss in float64."""
    params = [p.detach().double().clone() for p in conv.parameters()]
    sizes = [p.numel() for p in params]
    shapes = [p.shape for p in params]
    Xd, Yd = X.double(), Y.double()

    def f(flat):
        ps, off = [], 0
        for s, sh in zip(sizes, shapes):
            ps.append(flat[off:off + s].reshape(sh))
            off += s
        w = ps[0]
        b = ps[1] if len(ps) > 1 else None
        y = conv_functional(Xd, w, b, conv)
        l = (y - Yd) ** 2
        return l.sum() if loss == "sum" else l.mean()

    flat = torch.cat([p.reshape(-1) for p in params])
    H = torch.autograd.functional.hessian(f, flat)
    return float(torch.linalg.eigvalsh(H).max())


def conv_functional(x, w, b, conv):
    """What nn.Conv2d.forward does (padding_mode handling included), for arbitrary weights."""
    if conv.padding_mode != "zeros":
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        return F.conv2d(x, w, b, conv.stride, 0, conv.dilation, conv.groups)
    return F.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups)


def make_optimizer(params, lr, opt):
    o = dict(opt)
    name = o.pop("name")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.get("momentum", 0.0), dampening=o.get("dampening", 0.0),
                               nesterov=o.get("nesterov", False), weight_decay=o.get("weight_decay", 0.0))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(o.get("betas", (0.9, 0.999))), eps=o.get("eps", 1e-8),
                                weight_decay=o.get("weight_decay", 0.0))
    raise ValueError(name)


def nice_lr(v):
    """Round down to two significant digits (a short literal in the request)."""
    e = math.floor(math.log10(v))
    return float("%.1e" % (math.floor(v / 10.0 ** (e - 1)) * 10.0 ** (e - 1)))


def train_case(rng, c):
    """One training run; c holds the geometry and options (see TRAIN_SPECS)."""
    dtype = c["dtype"]
    tdt = TORCH_DTYPE[dtype]
    n, cin, cout, g = c["n"], c["cin"], c["cout"], c.get("groups", 1)
    h, w = c["hw"]
    kh, kw = c["k"]
    stride, dil = c.get("stride", (1, 1)), c.get("dilation", (1, 1))
    padding = c.get("padding", 0)
    pm = c.get("padding_mode", "zeros")
    bias = c.get("bias", False)
    rank = c["rank"]
    pad_arg = padding if isinstance(padding, (int, str)) else tuple(padding)

    x = rng.uniform(-1, 1, (n, cin, h, w))
    x = f32(x) if dtype == "float32" else x
    X = torch.tensor(x, dtype=tdt)
    # target: another random conv of the same geometry, plus noise
    teacher = nn.Conv2d(cin, cout, (kh, kw), stride=stride, padding=pad_arg, dilation=dil, groups=g,
                        bias=True, padding_mode=pm, dtype=torch.float64)
    with torch.no_grad():
        teacher.weight.copy_(torch.tensor(rng.normal(0, 0.6, teacher.weight.shape)))
        teacher.bias.copy_(torch.tensor(rng.normal(0, 0.5, cout)))
        y = teacher(torch.tensor(x)).numpy()
    y = y + rng.normal(0, c.get("noise", 0.15) * y.std() + 0.02, y.shape)
    y = f32(y) if dtype == "float32" else y
    Y = torch.tensor(y, dtype=tdt)

    # the run, exactly as the service should do it
    seed = c["seed"]
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, (kh, kw), stride=stride, padding=pad_arg, dilation=dil, groups=g,
                     bias=bias, padding_mode=pm, dtype=tdt)
    init_spec = c.get("init")
    if init_spec:  # weights given literally in the request (drawn here, rounded to the dtype)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(draw(rng, tuple(conv.weight.shape), "uniform", dtype) * 0.5))
            if bias:
                conv.bias.copy_(torch.tensor(draw(rng, (cout,), "uniform", dtype) * 0.5))
    init_w = conv.weight.detach().clone()
    init_b = conv.bias.detach().clone() if bias else None

    lmax = hessian_lmax(conv, X, Y, c["loss"])
    opt = c.get("optimizer", {"name": "sgd"})
    if opt["name"] == "sgd":
        lr = nice_lr(c.get("lr_factor", 0.5) / lmax)
    else:
        lr = c["lr"]

    optimizer = make_optimizer(conv.parameters(), lr, opt)
    Xin, Yin = X, Y
    if rank == 3:
        Xin, Yin = X[0], Y[0]  # unbatched C×H×W, torch handles it natively
    losses = []
    for _ in range(c["steps"]):
        optimizer.zero_grad()
        yhat = conv(Xin)  # rank 2 runs as 1×1×H×W
        l = (yhat - Yin) ** 2
        L = l.sum() if c["loss"] == "sum" else l.mean()
        losses.append(float(L))
        L.backward()
        optimizer.step()
    name = c["name"]
    assert all(math.isfinite(v) for v in losses), name
    assert losses[-1] < 0.7 * losses[0], (name, losses[0], losses[-1])
    assert losses[-1] >= 1e-3 * losses[0], (name, losses[0], losses[-1], "converged to noise level")
    assert max(losses) <= 3 * losses[0], (name, "overshoot")

    def at_rank(a):
        return a[0, 0] if rank == 2 else (a[0] if rank == 3 else a)

    req = {"input": nested(at_rank(x)), "target": nested(at_rank(y)), "kernel_size": [kh, kw]}
    if tuple(stride) != (1, 1) or c.get("explicit"):
        req["stride"] = stride[0] if stride[0] == stride[1] and c.get("int_form", True) else list(stride)
    if padding != 0 or c.get("explicit"):
        req["padding"] = padding if isinstance(padding, (int, str)) else list(padding)
    if tuple(dil) != (1, 1) or c.get("explicit"):
        req["dilation"] = dil[0] if dil[0] == dil[1] and c.get("int_form", True) else list(dil)
    if g != 1 or c.get("explicit"):
        req["groups"] = g
    if pm != "zeros" or c.get("explicit"):
        req["padding_mode"] = pm
    if bias or c.get("explicit"):
        req["bias"] = bias
    if dtype != "float32" or c.get("explicit") or c.get("explicit_dtype", True):
        req["dtype"] = dtype
    req["lr"] = lr
    req["steps"] = c["steps"]
    req["loss"] = c["loss"]
    if init_spec:
        iw = init_w.numpy()
        req["init"] = nested(iw[0, 0] if (cout == 1 and cin == 1) else iw)
        if bias:
            req["init_bias"] = nested(init_b.numpy())
    else:
        req["seed"] = seed
    if "optimizer" in c and not c.get("omit_optimizer"):
        req["optimizer"] = c["optimizer"]
    return {
        "name": name,
        "request": req,
        "init_weight": nested(init_w),
        "init_bias": nested(init_b) if bias else None,
        "losses": losses,
        "final_weight": nested(conv.weight),
        "final_bias": nested(conv.bias) if bias else None,
    }


SGD = {"name": "sgd"}
SGD_FULL = {"name": "sgd", "momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}
SGD_MOM = {"name": "sgd", "momentum": 0.9}
SGD_NEST = {"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}
SGD_DAMP = {"name": "sgd", "momentum": 0.8, "dampening": 0.5}
SGD_WD = {"name": "sgd", "weight_decay": 0.05}
ADAM = {"name": "adam"}
ADAM_FULL = {"name": "adam", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}
ADAM_WD = {"name": "adam", "betas": [0.85, 0.99], "eps": 1e-6, "weight_decay": 0.02}

# lr_factor: SGD lr = factor / lambda_max(Hessian), rounded down to 2 digits (momentum needs less)
TRAIN_SPECS = [
    dict(name="c1o1_rank2_sgd_f32_sum", rank=2, n=1, cin=1, cout=1, hw=(8, 9), k=(3, 3), dtype="float32",
         loss="sum", steps=60, seed=1, omit_optimizer=True, optimizer=SGD, explicit_dtype=False),
    dict(name="c1o1_rank2_sgd_f64_mean_bias", rank=2, n=1, cin=1, cout=1, hw=(7, 7), k=(2, 3), dtype="float64",
         loss="mean", steps=60, seed=2, bias=True, optimizer=SGD_FULL, padding=1),
    dict(name="c1o1_rank2_sgd_momentum_f32_same_reflect", rank=2, n=1, cin=1, cout=1, hw=(9, 8), k=(3, 3),
         dtype="float32", loss="sum", steps=60, seed=3, padding="same", padding_mode="reflect",
         optimizer=SGD_MOM, lr_factor=0.05),
    dict(name="c1o1_rank4_n3_adam_f64_stride2", rank=4, n=3, cin=1, cout=1, hw=(10, 11), k=(3, 2), dtype="float64",
         loss="sum", steps=60, seed=4, stride=(2, 2), bias=True, optimizer=ADAM, lr=0.02),
    dict(name="c3o2_rank4_n2_sgd_f32_mean", rank=4, n=2, cin=3, cout=2, hw=(8, 8), k=(3, 3), dtype="float32",
         loss="mean", steps=60, seed=5, bias=True, optimizer=SGD),
    dict(name="c3o2_rank3_sgd_nesterov_wd_f64_same_replicate", rank=3, n=1, cin=3, cout=2, hw=(7, 8), k=(2, 2),
         dtype="float64", loss="sum", steps=60, seed=6, padding="same", padding_mode="replicate",
         optimizer=SGD_NEST, lr_factor=0.05),
    dict(name="c3o2_rank4_n1_adam_wd_f32_dilation2", rank=4, n=1, cin=3, cout=2, hw=(9, 9), k=(3, 3),
         dtype="float32", loss="mean", steps=70, seed=7, dilation=(2, 2), padding=2, optimizer=ADAM_WD, lr=0.03),
    dict(name="c3o2_rank4_n3_sgd_dampening_f64_circular", rank=4, n=3, cin=3, cout=2, hw=(6, 7), k=(3, 3),
         dtype="float64", loss="sum", steps=60, seed=8, padding=1, padding_mode="circular", bias=True,
         optimizer=SGD_DAMP, lr_factor=0.1),
    dict(name="c4o4_g2_rank4_n2_sgd_f32", rank=4, n=2, cin=4, cout=4, groups=2, hw=(7, 7), k=(3, 3),
         dtype="float32", loss="sum", steps=60, seed=9, bias=True, optimizer=SGD, padding=(1, 0)),
    dict(name="c4o4_g2_rank3_adam_f64_same", rank=3, n=1, cin=4, cout=4, groups=2, hw=(6, 6), k=(3, 2),
         dtype="float64", loss="mean", steps=60, seed=10, padding="same", optimizer=ADAM_FULL, lr=0.03),
    dict(name="c4o4_g2_rank4_n1_sgd_momentum_f64_stride_1_2", rank=4, n=1, cin=4, cout=4, groups=2, hw=(8, 9),
         k=(2, 3), dtype="float64", loss="sum", steps=60, seed=11, stride=(1, 2), int_form=False,
         optimizer=SGD_MOM, lr_factor=0.05),
    dict(name="c4o4_g2_rank4_n3_adam_wd_f32_reflect", rank=4, n=3, cin=4, cout=4, groups=2, hw=(6, 6), k=(3, 3),
         dtype="float32", loss="sum", steps=60, seed=12, padding=(2, 1), padding_mode="reflect", bias=True,
         optimizer=ADAM_WD, lr=0.02),
    dict(name="depthwise_c3_rank4_n2_sgd_f64", rank=4, n=2, cin=3, cout=3, groups=3, hw=(8, 8), k=(3, 3),
         dtype="float64", loss="sum", steps=60, seed=13, bias=True, optimizer=SGD),
    dict(name="depthwise_c3_rank4_adam_f32_same_circular", rank=4, n=1, cin=3, cout=3, groups=3, hw=(7, 6),
         k=(3, 3), dtype="float32", loss="mean", steps=60, seed=14, padding="same", padding_mode="circular",
         optimizer=ADAM, lr=0.03),
    dict(name="depthwise_mult2_c2o4_rank4_n2_sgd_nesterov_f32", rank=4, n=2, cin=2, cout=4, groups=2, hw=(7, 8),
         k=(2, 2), dtype="float32", loss="sum", steps=60, seed=15, optimizer=SGD_NEST, lr_factor=0.05),
    dict(name="depthwise_c4_rank4_n1_sgd_dampening_f32_dilation", rank=4, n=1, cin=4, cout=4, groups=4, hw=(9, 9),
         k=(3, 3), dtype="float32", loss="sum", steps=60, seed=16, dilation=(2, 1), padding="same",
         padding_mode="replicate", bias=True, optimizer=SGD_DAMP, lr_factor=0.1),
    dict(name="c2o3_rank4_n2_sgd_wd_f64_stride_dilation", rank=4, n=2, cin=2, cout=3, hw=(11, 10), k=(3, 3),
         dtype="float64", loss="mean", steps=60, seed=17, stride=(2, 1), dilation=(1, 2), padding=(1, 2),
         int_form=False, optimizer=SGD_WD),
    dict(name="c1o1_rank2_adam_f32_even_kernel_same", rank=2, n=1, cin=1, cout=1, hw=(8, 8), k=(2, 4),
         dtype="float32", loss="sum", steps=80, seed=18, padding="same", optimizer=ADAM_FULL, lr=0.02),
    dict(name="c1o1_rank4_n2_sgd_f64_1x1_kernel", rank=4, n=2, cin=1, cout=1, hw=(5, 6), k=(1, 1),
         dtype="float64", loss="sum", steps=50, seed=19, bias=True, optimizer=SGD),
    dict(name="c3o2_rank4_n1_sgd_f32_valid_explicit", rank=4, n=1, cin=3, cout=2, hw=(6, 6), k=(2, 2),
         dtype="float32", loss="sum", steps=60, seed=20, padding="valid", explicit=True, optimizer=SGD_FULL),
    dict(name="c2o2_rank4_n3_adam_f64_reflect_stride2", rank=4, n=3, cin=2, cout=2, hw=(9, 9), k=(3, 3),
         dtype="float64", loss="mean", steps=60, seed=21, stride=(2, 2), padding=1, padding_mode="reflect",
         bias=True, optimizer=ADAM_WD, lr=0.03),
    dict(name="c1o2_rank3_sgd_momentum_f32_bias", rank=3, n=1, cin=1, cout=2, hw=(8, 8), k=(3, 3),
         dtype="float32", loss="mean", steps=60, seed=22, bias=True, optimizer=SGD_MOM, lr_factor=0.05),
    dict(name="c4o2_rank4_n2_sgd_f64_seed_big", rank=4, n=2, cin=4, cout=2, hw=(6, 6), k=(3, 3),
         dtype="float64", loss="sum", steps=50, seed=2**32 + 7, optimizer=SGD),
    dict(name="c2o2_rank4_n1_sgd_f32_circular_stride2", rank=4, n=1, cin=2, cout=2, hw=(8, 8), k=(3, 3),
         dtype="float32", loss="sum", steps=60, seed=24, stride=(2, 2), padding=1, padding_mode="circular",
         optimizer=SGD),
    dict(name="init_c1o1_rank2_sgd_f32", rank=2, n=1, cin=1, cout=1, hw=(7, 8), k=(2, 2), dtype="float32",
         loss="sum", steps=50, seed=25, init=True, optimizer=SGD),
    dict(name="init_c4o4_g2_rank4_adam_f64_bias", rank=4, n=2, cin=4, cout=4, groups=2, hw=(6, 6), k=(3, 3),
         dtype="float64", loss="sum", steps=60, seed=26, init=True, bias=True, optimizer=ADAM, lr=0.02),
]


def train_conv_cases(rng):
    return [train_case(rng, c) for c in TRAIN_SPECS]


# ---------------------------------------------------------------------------
# init_conv.json

INIT_SPECS = [  # (in, out, groups, kernel_size, bias)
    (1, 1, 1, (3, 3), True),
    (3, 2, 1, (3, 3), True),
    (4, 8, 1, (3, 3), True),  # 8×4×3×3 = 288 weights
    (4, 4, 2, (3, 5), False),
    (4, 4, 4, (5, 5), True),  # depthwise
    (2, 6, 2, (1, 7), True),
    (3, 3, 1, (2, 2), False),
    (1, 4, 1, (4, 4), True),
]


def init_conv_entries():
    seeds = [0, 1, 42, 2**32 + 5]
    out = []
    i = 0
    for dtype in ("float32", "float64"):
        for cin, cout, g, ks, bias in INIT_SPECS:
            for seed in seeds[(i % 2)::2]:  # two seeds per shape and dtype
                torch.manual_seed(seed)
                conv = nn.Conv2d(cin, cout, ks, groups=g, bias=bias, dtype=TORCH_DTYPE[dtype])
                out.append({"seed": seed, "dtype": dtype, "in_channels": cin, "out_channels": cout, "groups": g,
                            "kernel_size": list(ks), "bias": bias, "weight": nested(conv.weight),
                            "bias_values": nested(conv.bias) if bias else None})
            i += 1
    return out


# ---------------------------------------------------------------------------


def summarize(cases, errors, disputed):
    from collections import Counter
    cnt = Counter()
    for c in cases:
        r = c["request"]
        x = np.asarray(r["input"])
        k = np.asarray(r["kernel"])
        cnt["reference=" + c["reference"]] += 1
        cnt["rank=%d" % x.ndim] += 1
        cnt["kernel rank=%d" % k.ndim] += 1
        cnt["dtype=" + r.get("dtype", "float64(default)")] += 1
        cnt["padding_mode=" + r.get("padding_mode", "zeros(default)")] += 1
        p = r.get("padding", "(omitted)")
        cnt["padding=" + (p if isinstance(p, str) else ("int" if isinstance(p, int) else "list%d" % len(p)))] += 1
        cnt["operation=" + r.get("operation", "correlate")] += 1
        if "fill_value" in r and r["fill_value"] != 0:
            cnt["fill_value!=0"] += 1
        if "bias" in r:
            cnt["bias=" + ("scalar" if isinstance(r["bias"], float) else "list")] += 1
        g = r.get("groups", 1)
        if g > 1:
            cnt["groups>1"] += 1
            if x.ndim >= 3 and g == x.shape[-3]:
                cnt["depthwise(groups==C)"] += 1
        s = r.get("stride", 1)
        if s != 1 and s != [1, 1]:
            cnt["stride>1"] += 1
        d = r.get("dilation", 1)
        if d != 1 and d != [1, 1]:
            cnt["dilation>1"] += 1
        if x.ndim == 4:
            cnt["N=%d" % x.shape[0]] += 1
        if x.ndim >= 3:
            cnt["C=%d" % x.shape[-3]] += 1
        if k.ndim == 4:
            cnt["O=%d" % k.shape[0]] += 1
    for k_ in sorted(cnt):
        print("   %-28s %d" % (k_, cnt[k_]))
    ef = Counter(e["error_field"] for e in errors)
    print("  errors by field:", dict(ef))
    print("  disputed:", len(disputed))


def main():
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel lengths")
    rng = np.random.default_rng(RNG_SEED)
    os.makedirs(OUT_DIR, exist_ok=True)
    gen = dict(generator_info(), script="scripts/golden/generate_conv.py", rng_seed=RNG_SEED)

    cases = conv2d_cases(rng)
    errors = error_cases(rng)
    disputed = disputed_cases(rng)
    ncross = cross_check_torch_scipy(np.random.default_rng(RNG_SEED + 1))
    n1 = write_json(os.path.join(OUT_DIR, "conv2d.json"), gen,
                    [("cases", cases + errors), ("disputed", disputed)])

    train = train_conv_cases(np.random.default_rng(RNG_SEED + 2))
    n2 = write_json(os.path.join(OUT_DIR, "train_conv.json"), gen, [("cases", train)])

    init = init_conv_entries()
    n3 = write_json(os.path.join(OUT_DIR, "init_conv.json"), gen, [("entries", init)])

    print("generator:", gen)
    print("conv2d.json: %d cases, %d errors, %d disputed, %d bytes (torch/scipy cross-checks: %d)"
          % (len(cases), len(errors), len(disputed), n1, ncross))
    summarize(cases, errors, disputed)
    print("train_conv.json: %d runs, %d bytes" % (len(train), n2))
    for c in train:
        r = c["request"]
        print("  %-50s %s lr=%-8g steps=%d loss %.4g -> %.4g (ratio %.3g)" % (
            c["name"], r.get("optimizer", {"name": "sgd"})["name"], r["lr"], r["steps"],
            c["losses"][0], c["losses"][-1], c["losses"][-1] / c["losses"][0]))
    print("init_conv.json: %d entries, %d bytes" % (len(init), n3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
