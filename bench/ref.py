"""Times PyTorch, scipy and OpenCV on the workloads the Go bench wrote.

Run by `go run ./bench` with /usr/bin/python3: argv[1] is a JSON spec, the
result JSON goes to stdout. Inputs are raw little-endian arrays written by the
Go side, so both sides see identical data.
"""
import json
import sys
import time

import numpy as np
import scipy
import torch
import torch.nn.functional as F
from scipy import ndimage, signal

try:
    import cv2
except ImportError:  # the OpenCV column stays empty
    cv2 = None

torch.set_num_threads(2)
if cv2 is not None:
    cv2.setNumThreads(2)

# A "same" row's border in each library's words.
TORCH_PAD = {"reflect": "reflect", "replicate": "replicate"}
NDIMAGE_MODE = {"zeros": "constant", "reflect": "mirror", "replicate": "nearest"}
CV_BORDER = {} if cv2 is None else {
    "zeros": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}
BUDGET = 2.0  # seconds: a warm-up slower than this is reported as that one run
SPEND = 4.0  # seconds of timed runs per measurement, at most (but at least 3 runs)


def timed(fn, reps):
    """Median of up to reps calls of fn after two warm-up calls (see
    timeSteps in main.go: the second call's result is fresh memory too,
    since the first one is still held)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    if first > BUDGET:
        return first * 1e3, 1, out
    t0 = time.perf_counter()
    fn()
    second = time.perf_counter() - t0
    ts = []
    for _ in range(min(reps, max(3, int(SPEND / max(second, 1e-6))))):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3, reps, out


def load(path, dtype, shape):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def maxrel(ours, ref):
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-300))


def same_fwd(w, x, k, tx, tk, border, reps, r):
    """Times a "same" correlation with a border in each library."""
    dt = x.dtype
    ours = load(w["out"], dt, w["oshape"])
    p = k.shape[2] // 2  # the kernels are odd and square
    if not w["torch_skip"]:
        if border == "zeros":
            fn = lambda: F.conv2d(tx, tk, padding="same")
        else:
            fn = lambda: F.conv2d(F.pad(tx, (p, p, p, p), mode=TORCH_PAD[border]), tk)
        with torch.no_grad():
            ms, n, out = timed(fn, reps)
        r["torch_ms"], r["torch_n"], r["torch_maxrel"] = ms, n, maxrel(ours, out.numpy())
    x2, k2 = x[0, 0], k[0, 0]
    if w["scipy_direct"]:
        ms, n, _ = timed(lambda: ndimage.correlate(x2, k2, mode=NDIMAGE_MODE[border], cval=0.0), reps)
        r["scipy_ms"], r["scipy_n"] = ms, n
    if border == "zeros":
        kf = np.ascontiguousarray(k2[::-1, ::-1])
        best = None
        for f in (signal.fftconvolve, signal.oaconvolve):
            ms, n, _ = timed(lambda: f(x2, kf, mode="same"), reps)
            if best is None or ms < best[0]:
                best = (ms, n)
        r["scipy_fft_ms"], r["scipy_fft_n"] = best
    if cv2 is not None:
        ms, n, out = timed(lambda: cv2.filter2D(x2, -1, k2, borderType=CV_BORDER[border]), reps)
        r["cv_ms"], r["cv_n"], r["cv_maxrel"] = ms, n, maxrel(ours[0, 0], out)


def main():
    spec = json.load(open(sys.argv[1]))
    reps = spec["reps"]
    res = []
    for w in spec["workloads"]:
        dt = np.float32 if w["dtype"] == "float32" else np.float64
        x = load(w["x"], dt, w["xshape"])
        k = load(w["w"], dt, w["wshape"])
        r = {"name": w["name"], "dtype": w["dtype"]}
        tx, tk = torch.from_numpy(x), torch.from_numpy(k)
        st, pd = tuple(w["stride"]), tuple(w["pad"])
        border = w.get("border") or ""
        if w["kind"] == "fwd" and border:
            same_fwd(w, x, k, tx, tk, border, reps, r)
        elif w["kind"] == "fwd" and w["torch_skip"]:
            pass
        elif w["kind"] == "fwd":
            with torch.no_grad():
                ms, n, out = timed(lambda: F.conv2d(tx, tk, stride=st, padding=pd), reps)
            r["torch_ms"], r["torch_n"] = ms, n
            ours = load(w["out"], dt, w["oshape"])
            ref = out.numpy()
            r["torch_maxrel"] = float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-300))
        if w["kind"] == "fwd" and w["scipy"] and not border:
            x2, k2 = x[0, 0], k[0, 0]
            if w["scipy_direct"]:
                ms, n, _ = timed(lambda: signal.correlate2d(x2, k2, mode="valid"), reps)
                r["scipy_ms"], r["scipy_n"] = ms, n
            kf = np.ascontiguousarray(k2[::-1, ::-1])
            best = None
            for f in (signal.fftconvolve, signal.oaconvolve):
                ms, n, _ = timed(lambda: f(x2, kf, mode="valid"), reps)
                if best is None or ms < best[0]:
                    best = (ms, n)
            r["scipy_fft_ms"], r["scipy_fft_n"] = best
            if cv2 is not None:  # filter2D's "same" output, cropped to the valid part
                p = k2.shape[0] // 2  # the kernels are odd and square
                ho, wo = w["oshape"][2], w["oshape"][3]
                ms, n, out = timed(lambda: cv2.filter2D(x2, -1, k2, borderType=cv2.BORDER_CONSTANT)[p:p + ho, p:p + wo], reps)
                ours = load(w["out"], dt, w["oshape"])
                r["cv_ms"], r["cv_n"], r["cv_maxrel"] = ms, n, maxrel(ours[0, 0], out)
        if w["kind"] == "train":  # one SGD step on the squared error against target y
            y = torch.from_numpy(load(w["y"], dt, w["oshape"]))
            kk = tk.clone().requires_grad_(True)
            opt = torch.optim.SGD([kk], lr=1e-3)

            def step():
                opt.zero_grad()
                loss = ((F.conv2d(tx, kk, stride=st, padding=pd) - y) ** 2).sum()
                loss.backward()
                opt.step()
                return loss

            ms, n, _ = timed(step, reps)
            r["torch_ms"], r["torch_n"] = ms, n
        res.append(r)
    json.dump({"torch": torch.__version__, "scipy": scipy.__version__, "results": res}, sys.stdout)


main()
