import http.server
import io
import threading

import numpy as np
import pytest

import corr2d

# d2l 6.2: a white image with a black band, and its vertical edges.
X = np.ones((6, 8))
X[:, 2:6] = 0
K = np.array([[1.0, -1.0]])
Y = np.zeros((6, 7))
Y[:, 1] = 1
Y[:, 5] = -1
# PyTorch's float32 losses of the seed-42 run, lr 0.03, summed loss.
TORCH_LOSSES = [31.631296, 17.349756, 9.918350, 5.862164, 3.552892, 2.192386, 1.369758, 0.862977, 0.546708, 0.347599]


def reference(x, k):
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + kh, j:j + kw] * k).sum()
    return out


def test_edge_detection(client):
    got = client.corr2d(X, K)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, Y)
    # The kernel sees only vertical edges.
    np.testing.assert_array_equal(client.corr2d(X.T, K), np.zeros((8, 5)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(client, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((17, 23)).astype(dtype)
    k = rng.standard_normal((3, 4)).astype(dtype)
    got = client.corr2d(x, k)
    assert got.dtype == dtype and got.shape == (15, 20)
    np.testing.assert_allclose(got, reference(x.astype(np.float64), k.astype(np.float64)), rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_parameters_are_sent(client):
    x = np.arange(12.0).reshape(3, 4)
    got = client.corr2d(x, np.ones((3, 3)), padding="same", padding_mode="replicate", bias=[0.5])
    padded = np.pad(x, 1, mode="edge")
    np.testing.assert_allclose(got, reference(padded, np.ones((3, 3))) + 0.5)


def test_problems_are_raised(client):
    with pytest.raises(corr2d.ProblemError) as e:
        client.corr2d(np.ones((2, 2)), np.ones((3, 3)))
    assert e.value.status == 422
    assert e.value.code == "invalid-shape"
    assert e.value.pointer == "/kernel"
    assert e.value.detail
    with pytest.raises(corr2d.ProblemError) as e:
        client.train(X, Y, steps=10**9)
    assert e.value.status == 413 and e.value.limit == "max_steps"
    with pytest.raises(corr2d.ProblemError) as e:
        client.job("01J9Z3K4M5N6P7Q8R9S0T1V2W3")
    assert e.value.status == 404 and e.value.code == "not-found"


def test_train_learns_the_edge_kernel(client):
    job = client.train(X, Y, kernel_size=(1, 2), lr=0.03, steps=10, seed=42, dtype="float32")
    assert job.status in ("queued", "running", "succeeded")
    out = io.StringIO()
    job.wait(progress=True, out=out)
    assert job.status == "succeeded" and job.step == 10
    assert "step 10/10" in out.getvalue() or "10/10" in out.getvalue()
    losses = job.losses()
    assert losses.shape == (10,)
    np.testing.assert_allclose(losses, TORCH_LOSSES, rtol=1e-5)
    np.testing.assert_allclose(job.kernel, [[1.0487369, -0.9276710]], rtol=1e-5)
    np.testing.assert_allclose(job.init_kernel, [[0.5406104, 0.5869042]], rtol=1e-6)
    job.delete()
    with pytest.raises(corr2d.ProblemError) as e:
        job.refresh()
    assert e.value.status == 404


def test_events_resume_without_gap_or_repeat(client):
    job = client.train(X, Y, lr=1e-4, steps=1_000_000)
    try:
        steps, last = [], None
        for name, data in job.events():
            assert name == "progress"
            steps += [p["step"] for p in data["losses"]]
            last = str(data["step"])
            if len(steps) >= 2:
                break
        job.refresh(wait=30)
        assert job.status == "running"
        with pytest.raises(corr2d.ProblemError) as e:
            job.delete()
        assert e.value.status == 409 and e.value.code == "conflict"
        resumed = job.events(last_event_id=last)
        for name, data in resumed:
            steps += [p["step"] for p in data["losses"]]
            if data["step"] > int(last):
                break
        job.cancel()
        end = None
        for name, data in resumed:
            if name == "progress":
                steps += [p["step"] for p in data["losses"]]
            else:
                end = data
        assert end is not None and end["status"] == "canceled"
        assert steps == list(range(1, len(steps) + 1))
        assert end["step"] == steps[-1]
    finally:
        job.cancel()
    job.delete()


def test_wait_without_progress(client):
    job = client.train(X, Y, steps=3).wait(progress=False)
    assert job.status == "succeeded" and len(job.losses()) == 3
    assert any(j.id == job.id for j in client.jobs(status="succeeded"))
    job.delete()


def test_token_is_sent_as_bearer():
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen["auth"] = self.headers.get("Authorization")
            body = b'{"type":"/problems/unauthorized","title":"Unauthorized","status":401,"detail":"bad token"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = corr2d.Client(f"http://127.0.0.1:{srv.server_port}", token="s3cret")
        with pytest.raises(corr2d.ProblemError) as e:
            c.job("x")
        assert seen["auth"] == "Bearer s3cret"
        assert e.value.status == 401 and e.value.code == "unauthorized"
    finally:
        srv.shutdown()
        srv.server_close()
