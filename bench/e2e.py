"""End-to-end timing of POST /corr2d from a Python client (issue #5).

Run with bench/e2e.sh, which starts a server; or, against a running one:

    /usr/bin/python3 bench/e2e.py http://127.0.0.1:8080

It times, on a 1024x1024 float32 input with a 3x3 kernel, median of REPS:
  - npy both ways: np.save, multipart upload, compute, download, np.load,
    once with requests' files= (whose multipart encoder copies the arrays
    through several buffers) and once with http.client and a multipart body
    joined from the np.save bytes (see lean_multipart);
  - JSON both ways: json.dumps of the lists, upload, compute, download, json.loads;
  - scipy.signal.correlate2d and torch F.conv2d on the same arrays in process;
and prints the server's own Server-Timing phases for the two requests.
"""
import http.client
import io
import json
import statistics
import sys
import time
import urllib.parse
import uuid

import numpy as np
import requests
import scipy.signal
import torch
import torch.nn.functional as F

REPS = 7


def median_ms(fn):
    fn()  # warm-up
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def lean_multipart(parts):
    """Returns (content type, body) of a multipart/form-data body holding
    each (name, bytes) part, joined in one pass with no per-part copies."""
    boundary = uuid.uuid4().hex
    chunks = []
    for name, data in parts:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                      f'filename="{name}.npy"\r\nContent-Type: application/x-npy\r\n\r\n'.encode())
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def main():
    url = sys.argv[1].rstrip("/") + "/corr2d"
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (1024, 1024)).astype(np.float32)
    k = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
    session = requests.Session()
    timings = {}

    def npy(a):
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    def via_npy():
        r = session.post(url, files={"input": npy(x), "kernel": npy(k)},
                         headers={"Accept": "application/x-npy"})
        r.raise_for_status()
        timings["npy"] = r.headers.get("Server-Timing")
        return np.load(io.BytesIO(r.content))

    def via_npy_lean():
        ctype, body = lean_multipart([("input", npy(x)), ("kernel", npy(k))])
        conn.request("POST", u.path, body=body, headers={"Content-Type": ctype, "Accept": "application/x-npy"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"status {r.status}: {data[:200]!r}")
        timings["npy lean"] = r.getheader("Server-Timing")
        return np.load(io.BytesIO(data))

    def via_json():
        body = json.dumps({"input": x.tolist(), "kernel": k.tolist(), "dtype": "float32"})
        r = session.post(url, data=body, headers={"Content-Type": "application/json"})
        r.raise_for_status()
        timings["json"] = r.headers.get("Server-Timing")
        return np.asarray(r.json()["output"], dtype=np.float32)

    def via_scipy():
        return scipy.signal.correlate2d(x, k, mode="valid")

    torch.set_num_threads(2)
    xt = torch.from_numpy(x)[None, None]
    kt = torch.from_numpy(k)[None, None]

    def via_torch():
        with torch.no_grad():
            return F.conv2d(xt, kt)[0, 0].numpy()

    ref = via_scipy()
    for name, fn in [("npy", via_npy), ("npy lean", via_npy_lean), ("json", via_json)]:
        got = fn()
        err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
        assert err < 1e-5, (name, err)

    rows = [
        ("corr2d service, .npy both ways (requests)", median_ms(via_npy)),
        ("corr2d service, .npy both ways (http.client)", median_ms(via_npy_lean)),
        ("corr2d service, JSON both ways", median_ms(via_json)),
        ("scipy correlate2d in process", median_ms(via_scipy)),
        ("torch F.conv2d in process (2 threads)", median_ms(via_torch)),
    ]
    print(f"1024x1024 float32, 3x3 kernel; median of {REPS}; numpy {np.__version__}, "
          f"scipy {scipy.__version__}, torch {torch.__version__}")
    for name, ms in rows:
        print(f"  {name:48s} {ms:9.2f} ms")
    print(f"  .npy  Server-Timing: {timings['npy']}")
    print(f"  .npy  Server-Timing (http.client): {timings['npy lean']}")
    print(f"  JSON  Server-Timing: {timings['json']}")


if __name__ == "__main__":
    main()
