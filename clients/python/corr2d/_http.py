"""HTTP plumbing: requests, multipart bodies, .npy payloads and problems."""

from __future__ import annotations

import io
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from ._problem import ProblemError

NPY = "application/x-npy"


def to_npy(a: np.ndarray) -> bytes:
    """Encode an array as a .npy file: little-endian float32 or float64 in C
    order, which is what the service reads. Other dtypes become float64."""
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def from_npy(data: bytes) -> np.ndarray:
    """Decode a .npy file without ever unpickling."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def multipart(parts: List[Tuple[str, bytes, str]]) -> Tuple[bytes, str]:
    """Join (name, body, content type) parts into a multipart/form-data body;
    returns the body and its Content-Type."""
    boundary = "corr2d-" + secrets.token_hex(16)
    out = io.BytesIO()
    for name, body, ctype in parts:
        out.write(f"--{boundary}\r\n".encode())
        out.write(f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'.encode())
        out.write(f"Content-Type: {ctype}\r\n\r\n".encode())
        out.write(body)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class Transport:
    """Sends requests to one service, adding the token, and turns problem
    answers into ProblemError."""

    def __init__(self, url: str, token: Optional[str], timeout: float) -> None:
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def url(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        u = self.base + path
        if query:
            u += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return u

    def open(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Send a request and return the open response; raise ProblemError
        for an error answer."""
        h = {"User-Agent": "corr2d-python"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        req = urllib.request.Request(self.url(path, query), data=body, method=method, headers=h)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            raise ProblemError.from_response(e.code, e.headers.get("Content-Type", ""), e.read()) from None

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """Send a request and decode its JSON answer (None for 204)."""
        with self.open(method, path, headers={"Accept": "application/json"}, **kw) as resp:
            data = resp.read()
        return json.loads(data) if data else None

    def events(self, path: str, last_id: Optional[str], timeout: float) -> Iterator[Tuple[str, str, str]]:
        """Yield (event, id, data) from a Server-Sent Events stream until it
        ends. Comments (heartbeats) are skipped."""
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        with self.open("GET", path, headers=headers, timeout=timeout) as resp:
            if resp.status == 204:
                return
            name, eid, data = "message", "", []
            for raw in resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        yield name, eid, "\n".join(data)
                    name, data = "message", []
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    name = value
                elif field == "id":
                    eid = value
                elif field == "data":
                    data.append(value)
