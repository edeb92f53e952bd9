"""The client: correlations, training jobs and their live progress."""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.error
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ._http import NPY, Transport, from_npy, multipart, to_npy
from ._problem import ProblemError

_ACTIVE = ("queued", "running")


def _plain(v: Any) -> Any:
    """Make NumPy values JSON-encodable."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"cannot send {type(v).__name__} as JSON")


def _params(params: Dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in params.items() if v is not None}, default=_plain).encode()


class Client:
    """A connection to one corr2d service.

    Args:
        url: where the service listens, such as ``"http://localhost:8080"``.
        token: a bearer token, for a service started with auth tokens.
        timeout: seconds to wait for any one answer.
    """

    def __init__(self, url: str = "http://localhost:8080", token: Optional[str] = None, timeout: float = 60.0) -> None:
        self._t = Transport(url, token, timeout)

    @property
    def url(self) -> str:
        """The service's base URL."""
        return self._t.base

    def corr2d(self, x: Any, k: Any, **params: Any) -> np.ndarray:
        """Cross-correlate ``x`` with the kernel ``k`` on the service.

        ``x`` is H x W, C x H x W or N x C x H x W and ``k`` is kh x kw or
        O x (C/groups) x kh x kw; other keyword arguments are the request's
        fields (``stride``, ``padding``, ``dilation``, ``groups``, ``bias``,
        ``padding_mode``, ``operation``, ...). Both tensors travel as .npy
        files, and the answer comes back as one: a float32 ``x`` gives a
        float32 result computed in single precision, anything else float64.

        Raises:
            ProblemError: the service refused the request.
        """
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = x.astype(np.float64)
        k = np.asarray(k, dtype=x.dtype)
        parts = [("input", to_npy(x), NPY), ("kernel", to_npy(k), NPY)]
        if params:
            parts.append(("params", _params(params), "application/json"))
        body, ctype = multipart(parts)
        with self._t.open("POST", "/corr2d", body=body, headers={"Content-Type": ctype, "Accept": NPY}) as resp:
            return from_npy(resp.read())

    def train(
        self,
        x: Any,
        y: Any,
        kernel_size: Sequence[int] = (1, 2),
        lr: float = 0.03,
        steps: int = 10,
        seed: Optional[int] = 42,
        **params: Any,
    ) -> "Job":
        """Start a job that learns a kernel mapping ``x`` to ``y``.

        The defaults are d2l's: a 1 x 2 kernel, learning rate 0.03, ten
        steps of gradient descent on the summed squared error, the kernel
        drawn as ``torch.manual_seed(seed)`` then ``nn.Conv2d`` would.
        Other keyword arguments are the request's fields (``loss``,
        ``bias``, ``optimizer``, ``init``, ``padding``, ...); with ``init``
        the seed is not sent. A float32 ``x`` trains in float32 by default,
        a float64 one in float64.

        Returns:
            The queued Job.

        Raises:
            ProblemError: the service refused the request.
        """
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = x.astype(np.float64)
        y = np.asarray(y, dtype=x.dtype)
        fields: Dict[str, Any] = {"kernel_size": list(kernel_size), "lr": lr, "steps": steps, "seed": seed}
        fields.update(params)
        if fields.get("init") is not None:
            fields.pop("seed")
        parts = [("input", to_npy(x), NPY), ("target", to_npy(y), NPY), ("params", _params(fields), "application/json")]
        body, ctype = multipart(parts)
        with self._t.open("POST", "/train", body=body, headers={"Content-Type": ctype, "Accept": "application/json"}) as resp:
            return Job(self._t, json.loads(resp.read()))

    def job(self, job_id: str) -> "Job":
        """The job with this id.

        Raises:
            ProblemError: 404 when no job has this id.
        """
        return Job(self._t, self._t.json("GET", "/jobs/" + job_id))

    def jobs(self, status: Optional[str] = None) -> Iterator["Job"]:
        """Every job, oldest first, optionally only those with ``status``."""
        after = None
        while True:
            page = self._t.json("GET", "/jobs", query={"status": status, "after": after, "limit": 1000})
            for j in page["jobs"]:
                yield Job(self._t, j)
            after = page.get("next_after")
            if not after:
                return


class Job:
    """A training job. Its fields are those of the last answer about it;
    ``refresh()`` (and ``wait()``) read them anew."""

    def __init__(self, transport: Transport, view: Dict[str, Any]) -> None:
        self._t = transport
        self._view = view

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status!r}, step={self.step}/{self.steps})"

    @property
    def id(self) -> str:
        """The job's id."""
        return self._view["id"]

    @property
    def status(self) -> str:
        """queued, running, succeeded, failed or canceled."""
        return self._view["status"]

    @property
    def step(self) -> int:
        """Updates applied so far."""
        return self._view["step"]

    @property
    def steps(self) -> int:
        """Updates asked for."""
        return self._view["steps"]

    @property
    def loss(self) -> Optional[float]:
        """The loss recorded at the last step, if any."""
        return self._view.get("loss")

    @property
    def error(self) -> Optional[str]:
        """Why the job failed, if it did."""
        return self._view.get("error")

    @property
    def view(self) -> Dict[str, Any]:
        """The job as the service last showed it."""
        return dict(self._view)

    @property
    def kernel(self) -> np.ndarray:
        """The current (or final) kernel, read from the service."""
        return np.asarray(self.refresh()._view["kernel"], dtype=np.float64)

    @property
    def init_kernel(self) -> np.ndarray:
        """The kernel the job started from."""
        return np.asarray(self._view["init_kernel"], dtype=np.float64)

    def refresh(self, wait: Optional[float] = None) -> "Job":
        """Read the job anew. With ``wait`` (seconds, at most 60), the
        service answers once the step or status changes, or when ``wait``
        has passed."""
        query = {"wait": f"{wait:g}s"} if wait else None
        timeout = self._t.timeout + (wait or 0)
        self._view = self._t.json("GET", "/jobs/" + self.id, query=query, timeout=timeout)
        return self

    def losses(self) -> np.ndarray:
        """The losses recorded so far, one per step, in step order: element
        i is the loss before the (i+1)-th update."""
        out: List[float] = []
        after = 0
        while True:
            page = self._t.json("GET", f"/jobs/{self.id}/losses", query={"after_step": after, "limit": 10000})
            out.extend(p["loss"] for p in page["losses"])
            nxt = page.get("next_after_step")
            if nxt is None or not page["losses"]:
                return np.asarray(out, dtype=np.float64)
            after = nxt

    def events(self, last_event_id: Optional[str] = None, timeout: Optional[float] = None) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """Follow the job live: yield (event, data) for each ``progress``
        event and the final ``end`` event of its Server-Sent Events stream.
        A dropped connection is resumed where it broke, with neither a gap
        nor a repeat, until the job ends or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = last_event_id
        path = f"/jobs/{self.id}/events"
        while True:
            try:
                for name, eid, data in self._t.events(path, last, timeout=max(self._t.timeout, 60.0)):
                    if eid:
                        last = eid
                    yield name, json.loads(data)
                    if name == "end":
                        return
                return
            except ProblemError as e:
                if e.status != 503:
                    raise
            except (OSError, http.client.HTTPException, urllib.error.URLError):
                pass
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} did not end within {timeout} s")
            time.sleep(1.0)

    def wait(self, progress: bool = True, timeout: Optional[float] = None, out: Optional[IO[str]] = None) -> "Job":
        """Block until the job ends, following it over Server-Sent Events.

        With ``progress``, show the step and the live loss: a tqdm bar when
        tqdm is installed, a plain line on ``out`` (stderr) otherwise.

        Returns:
            The job, refreshed: check ``status`` (``succeeded``, ``failed``
            with ``error``, or ``canceled``).
        """
        bar = _progress(self.steps, out or sys.stderr) if progress else None
        try:
            for name, data in self.events(timeout=timeout):
                if bar is not None and name == "progress":
                    bar.update(data["step"], data.get("loss"))
        finally:
            if bar is not None:
                bar.close()
        return self.refresh()

    def cancel(self) -> "Job":
        """Stop the job if it is queued or running; idempotent."""
        self._view = self._t.json("POST", f"/jobs/{self.id}/cancel")
        return self

    def delete(self) -> None:
        """Remove the ended job and its losses.

        Raises:
            ProblemError: 409 while the job is queued or running.
        """
        self._t.json("DELETE", "/jobs/" + self.id)


class _Line:
    """A one-line progress display for terminals without tqdm."""

    def __init__(self, total: int, out: IO[str]) -> None:
        self.total, self.out, self.last = total, out, 0.0

    def update(self, step: int, loss: Optional[float]) -> None:
        now = time.monotonic()
        if loss is None or (step < self.total and now - self.last < 0.1):
            return
        self.last = now
        loss_s = "" if loss is None else f"  loss {loss:.6g}"
        self.out.write(f"\rstep {step}/{self.total}{loss_s}   ")
        self.out.flush()

    def close(self) -> None:
        self.out.write("\n")
        self.out.flush()


class _Tqdm:
    """tqdm's bar, fed with absolute steps."""

    def __init__(self, total: int, out: IO[str]) -> None:
        from tqdm import tqdm  # optional

        self.bar = tqdm(total=total, file=out, unit="step")
        self.step = 0

    def update(self, step: int, loss: Optional[float]) -> None:
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
        self.bar.update(step - self.step)
        self.step = step

    def close(self) -> None:
        self.bar.close()


def _progress(total: int, out: IO[str]) -> Any:
    try:
        return _Tqdm(total, out)
    except ImportError:
        return _Line(total, out)
