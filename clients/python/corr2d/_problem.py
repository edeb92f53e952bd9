"""The service's RFC 9457 problems as a Python exception."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional


class ProblemError(Exception):
    """An error answer of the service.

    Attributes:
        status: the HTTP status code, such as 422.
        code: the problem's kind, the last segment of its ``type``, such as
            ``"invalid-shape"`` or ``"too-large"``.
        title: the kind's summary.
        detail: what went wrong with this request.
        pointer: the JSON pointer of the offending field (``"/kernel"``),
            or None.
        limit: the name of the exceeded limit (``"max_elements"``), or None.
        request_id: the id to find the request in the service's logs.
        problem: the whole problem body as a dict.
    """

    def __init__(self, status: int, problem: Dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type: str = problem.get("type", "")
        self.code: str = self.type.rsplit("/", 1)[-1] if self.type else ""
        self.title: str = problem.get("title", "")
        self.detail: str = problem.get("detail", "")
        errors = problem.get("errors") or []
        self.pointer: Optional[str] = errors[0].get("pointer") if errors else None
        self.limit: Optional[str] = problem.get("limit")
        self.request_id: Optional[str] = problem.get("request_id")
        super().__init__(f"{status} {self.code or 'error'}: {self.detail or self.title}")

    @classmethod
    def from_response(cls, status: int, content_type: str, body: bytes) -> "ProblemError":
        """Build the error from an answer, problem+json or not."""
        problem: Dict[str, Any] = {}
        if "json" in content_type:
            try:
                decoded = json.loads(body)
                if isinstance(decoded, dict):
                    problem = decoded
            except ValueError:
                pass
        if not problem:
            problem = {"detail": body[:300].decode("utf-8", "replace").strip() or f"HTTP {status}"}
        return cls(status, problem)
