"""Replay conv2d.json and train_conv.json from the literal request bodies alone.

Run from the repository root (after generate_conv.py):

    /usr/bin/python3 scripts/golden/check_conv_golden.py

This reads each request the way the service is meant to (defaults included:
stride 1, dilation 1, groups 1, padding 0, padding_mode "zeros", fill_value 0,
operation "correlate", dtype "float64" for /corr2d, "float32" for /train,
optimizer plain SGD) and recomputes the answer without the generator's
internal case descriptions:

* /corr2d cases: a plain float64 NumPy loop over the padded input (index
  folding per padding mode), compared with "output" (float64: 1e-12 of the
  magnitude sum; float32: 1e-5) and, for float32, with "output_float64" exactly
  up to 1e-12.
* /train cases: the PyTorch program from the brief, rebuilt from the request;
  losses and final parameters must match bit for bit.
* error cases: the request must break exactly one contract rule, the one
  error_field names (and no valid case may break any).
"""

import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(REPO_ROOT, "testdata", "golden")


def pair(v, default=1):
    if v is None:
        v = default
    return (v, v) if isinstance(v, int) else tuple(v)


def pads_of(req, kh, kw, dil):
    p = req.get("padding", 0)
    dh, dw = dil
    if p == "valid":
        return 0, 0, 0, 0
    if p == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    if p == "full":
        return dh * (kh - 1), dh * (kh - 1), dw * (kw - 1), dw * (kw - 1)
    if isinstance(p, int):
        return p, p, p, p
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    return tuple(p)


def src_index(i, n, mode):
    """Input index for padded position i (relative to the input start), or None for fill."""
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i % n
    if mode == "symmetric":
        m = i % (2 * n)
        return m if m < n else 2 * n - 1 - m
    if mode == "reflect":
        assert -n < i < 2 * n - 1, "reflect pad beyond PyTorch's limit"
        return -i if i < 0 else 2 * n - 2 - i
    raise ValueError(mode)


def corr2d_request(req):
    x = np.array(req["input"], dtype=np.float64)
    rank = x.ndim
    x4 = x.reshape((1,) * (4 - rank) + x.shape)
    k = np.array(req["kernel"], dtype=np.float64)
    k4 = k.reshape((1, 1) + k.shape) if k.ndim == 2 else k
    if req.get("operation", "correlate") == "convolve":
        k4 = k4[:, :, ::-1, ::-1]
    n, c, h, w = x4.shape
    o, cg, kh, kw = k4.shape
    g = req.get("groups", 1)
    assert c % g == 0 and o % g == 0 and cg == c // g
    sh, sw = pair(req.get("stride"))
    dh, dw = pair(req.get("dilation"))
    t, b, l, r = pads_of(req, kh, kw, (dh, dw))
    mode = req.get("padding_mode", "zeros")
    fill = req.get("fill_value", 0.0)
    bias = req.get("bias")
    bias = np.zeros(o) if bias is None else (np.full(o, float(bias)) if not isinstance(bias, list) else np.array(bias))
    assert bias.shape == (o,)
    ho = (h + t + b - dh * (kh - 1) - 1) // sh + 1
    wo = (w + l + r - dw * (kw - 1) - 1) // sw + 1
    rows = [src_index(i - t, h, mode) for i in range(h + t + b)]
    cols = [src_index(j - l, w, mode) for j in range(w + l + r)]
    xp = np.full((n, c, h + t + b, w + l + r), float(fill))
    for i, ri in enumerate(rows):
        for j, cj in enumerate(cols):
            if ri is not None and cj is not None:
                xp[:, :, i, j] = x4[:, :, ri, cj]
    out = np.zeros((n, o, ho, wo))
    scale = np.zeros((n, o, ho, wo))
    og = o // g
    for oo in range(o):
        gi = oo // og
        for a in range(kh):
            for bb in range(kw):
                patch = xp[:, gi * cg:(gi + 1) * cg, a * dh:a * dh + sh * (ho - 1) + 1:sh,
                           bb * dw:bb * dw + sw * (wo - 1) + 1:sw]
                out[:, oo] += np.tensordot(k4[oo, :, a, bb], patch, axes=([0], [1]))
                scale[:, oo] += np.tensordot(np.abs(k4[oo, :, a, bb]), np.abs(patch), axes=([0], [1]))
        out[:, oo] += bias[oo]
        scale[:, oo] += abs(bias[oo])
    sq = (lambda a: a[0, 0]) if rank == 2 else ((lambda a: a[0]) if rank == 3 else (lambda a: a))
    return sq(out), sq(scale)


def check_corr2d(doc):
    worst = {"float64": 0.0, "float32": 0.0}
    for case in doc["cases"]:
        if "error_field" in case:
            continue
        req = case["request"]
        dtype = req.get("dtype", "float64")
        ref, scale = corr2d_request(req)
        got = np.array(case["output"])
        assert got.shape == ref.shape, (case["name"], got.shape, ref.shape)
        rel = np.max(np.abs(got - ref) / (scale + 1e-300))
        worst[dtype] = max(worst[dtype], rel)
        assert rel <= (1e-12 if dtype == "float64" else 1e-5), (case["name"], rel)
        if dtype == "float32":
            for v in np.ravel(req["input"]).tolist() + np.ravel(req["kernel"]).tolist():
                assert float(np.float32(v)) == v, (case["name"], "not a float32 value", v)
            e64 = np.max(np.abs(np.array(case["output_float64"]) - ref) / (scale + 1e-300))
            assert e64 <= 1e-12, (case["name"], e64)
    for d in doc["disputed"]:
        ref, _ = corr2d_request(d["request"])  # the contract's reading: flip, then same (extra bottom/right)
        assert np.allclose(ref, d["flip_then_same"], rtol=0, atol=1e-12), d["name"]
    print("conv2d.json: %d cases replayed from the requests; worst relative error float64 %.2e, float32 %.2e"
          % (sum("output" in c for c in doc["cases"]), worst["float64"], worst["float32"]))


def contract_violations(req):
    """Fields whose rule (as internal/engine/conv.go states it) the request breaks."""
    bad = []
    try:
        x = np.array(req["input"], dtype=np.float64)
    except ValueError:
        return ["input"]
    if x.ndim not in (2, 3, 4) or 0 in x.shape:
        return ["input"]
    try:
        k = np.array(req["kernel"], dtype=np.float64)
    except ValueError:
        return ["kernel"]
    if k.ndim not in (2, 4) or 0 in k.shape:
        return ["kernel"]
    x4 = x.reshape((1,) * (4 - x.ndim) + x.shape)
    k4 = k.reshape((1, 1) + k.shape) if k.ndim == 2 else k
    n, c, h, w = x4.shape
    o, cg, kh, kw = k4.shape

    def ints(v, name):
        v = pair(v)
        if len(v) != 2 or min(v) < 1:
            bad.append(name)
            return None
        return v

    st = ints(req.get("stride"), "stride")
    dl = ints(req.get("dilation"), "dilation")
    g = req.get("groups", 1)
    if g < 1 or c % g or o % g:
        bad.append("groups")
    elif cg != c // g:
        bad.append("kernel")
    if x.ndim == 2 and o != 1:
        bad.append("kernel")
    p = req.get("padding", 0)
    mode = req.get("padding_mode", "zeros")
    if mode not in ("zeros", "reflect", "replicate", "circular", "symmetric"):
        bad.append("padding_mode")
    fill = req.get("fill_value", 0.0)
    if not isinstance(fill, (int, float)) or (fill != 0 and mode != "zeros"):
        bad.append("fill_value")
    pads = None
    if isinstance(p, str):
        if p not in ("valid", "same", "full"):
            bad.append("padding")
        elif p == "same" and st and st != (1, 1):
            bad.append("padding")
        elif dl:
            pads = pads_of(req, kh, kw, dl)
    elif isinstance(p, int) or len(p) in (2, 4):
        pads = pads_of(req, kh, kw, dl or (1, 1))
        if min(pads) < 0:
            bad.append("padding")
            pads = None
    else:
        bad.append("padding")
    if pads and mode == "reflect" and (max(pads[:2]) >= h or max(pads[2:]) >= w):
        bad.append("padding")
    if pads and dl and (dl[0] * (kh - 1) + 1 > h + pads[0] + pads[1] or dl[1] * (kw - 1) + 1 > w + pads[2] + pads[3]):
        bad.append("kernel")
    b = req.get("bias")
    if b is not None and not isinstance(b, (int, float)):
        if np.array(b, dtype=object).ndim != 1 or len(b) != o:
            bad.append("bias")
    return bad


def check_errors(doc):
    """Each error request breaks exactly the contract rule its error_field names (and the valid cases none)."""
    errors = [c for c in doc["cases"] if "error_field" in c]
    for e in errors:
        assert "output" not in e, e["name"]
        v = contract_violations(e["request"])
        assert v == [e["error_field"]], (e["name"], v, e["error_field"])
    for case in doc["cases"] + doc["disputed"]:
        if "error_field" not in case:
            assert contract_violations(case["request"]) == [], case["name"]
    print("conv2d.json: %d error cases each break exactly their error_field's rule" % len(errors))


def replay_train(case):
    req = case["request"]
    dtype = {"float32": torch.float32, "float64": torch.float64}[req.get("dtype", "float32")]
    X = torch.tensor(req["input"], dtype=dtype)
    Y = torch.tensor(req["target"], dtype=dtype)
    rank = X.dim()
    if rank == 2:
        X, Y = X[None, None], Y[None, None]
    cin, cout = X.shape[-3], Y.shape[-3]
    p = req.get("padding", 0)
    padding = p if isinstance(p, (int, str)) else tuple(p)
    bias = req.get("bias", False)
    torch.manual_seed(req.get("seed", 0))
    conv = nn.Conv2d(cin, cout, tuple(req["kernel_size"]), stride=pair(req.get("stride")), padding=padding,
                     dilation=pair(req.get("dilation")), groups=req.get("groups", 1), bias=bias,
                     padding_mode=req.get("padding_mode", "zeros"), dtype=dtype)
    if "init" in req:
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(req["init"], dtype=dtype).reshape(conv.weight.shape))
            if bias:
                conv.bias.copy_(torch.tensor(req["init_bias"], dtype=dtype))
    assert conv.weight.detach().double().numpy().tolist() == case["init_weight"], case["name"]
    opt = dict(req.get("optimizer", {"name": "sgd"}))
    name = opt.pop("name")
    lr = req.get("lr", 0.03)
    if name == "sgd":
        o = torch.optim.SGD(conv.parameters(), lr=lr, **opt)
    else:
        if "betas" in opt:
            opt["betas"] = tuple(opt["betas"])
        o = torch.optim.Adam(conv.parameters(), lr=lr, **opt)
    losses = []
    for _ in range(req.get("steps", 10)):
        o.zero_grad()
        l = (conv(X) - Y) ** 2
        L = l.sum() if req.get("loss", "sum") == "sum" else l.mean()
        losses.append(float(L))
        L.backward()
        o.step()
    assert losses == case["losses"], case["name"]
    assert conv.weight.detach().double().numpy().tolist() == case["final_weight"], case["name"]
    if bias:
        assert conv.bias.detach().double().numpy().tolist() == case["final_bias"], case["name"]
    else:
        assert case["final_bias"] is None and case["init_bias"] is None


def main():
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel lengths")
    with open(os.path.join(GOLDEN, "conv2d.json")) as f:
        doc = json.load(f)
    check_corr2d(doc)
    check_errors(doc)
    with open(os.path.join(GOLDEN, "train_conv.json")) as f:
        tr = json.load(f)
    for case in tr["cases"]:
        replay_train(case)
    print("train_conv.json: %d runs replayed bit-exactly from the requests" % len(tr["cases"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
