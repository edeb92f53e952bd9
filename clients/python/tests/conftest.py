"""The tests talk to a real corr2d server: the one at $CORR2D_URL, or one
built from this repository and started on a port of its choice for the
session."""

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

import corr2d

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def server_url():
    url = os.environ.get("CORR2D_URL")
    if url:
        yield url
        return
    if shutil.which("go") is None:
        pytest.skip("set CORR2D_URL or put go on PATH to start a server")
    tmp = Path(tempfile.mkdtemp(prefix="corr2d-pytest-"))
    binary = tmp / "corr2d"
    subprocess.run(["go", "build", "-o", str(binary), "./cmd/server"], cwd=ROOT, check=True)
    # The server listens on a port the system picks and writes it to
    # addr_file: no other process can take the port in between. A start
    # shows no progress to watch; the two minutes only turn a hang into a
    # failure.
    addr_file = tmp / "addr"
    proc = subprocess.Popen([str(binary), "--addr", "127.0.0.1:0", "--addr-file", str(addr_file),
                             "--data-dir", str(tmp / "data")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = None
    deadline = time.monotonic() + 120
    while True:
        try:
            if url is None:
                url = "http://" + addr_file.read_text().strip()
            urllib.request.urlopen(url + "/readyz", timeout=5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the corr2d server did not become ready")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def client(server_url):
    return corr2d.Client(server_url, token=os.environ.get("CORR2D_TOKEN") or None)
