"""Loopback-only URL handling and a minimal keep-alive JSON client for the load tools.

Every tool talks to one service on this machine only: URLs must be http:// on
127.0.0.0/8 or localhost (rewritten to 127.0.0.1), as scripts/test-ab.sh accepts.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"

# Exit codes shared by the Python tools (and so by their .sh entry points).
EXIT_OK = 0
EXIT_CHECK_FAILED = 1   # the service answered, but not what was expected
EXIT_USAGE = 2          # bad arguments or input file
EXIT_SERVICE = 3        # unreachable service, unexpected HTTP status, foreign traffic

_URL_RE = re.compile(
    r"^http://(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::(\d{1,5}))?/?$")


class UsageError(Exception):
    """A bad argument; the tools exit with EXIT_USAGE."""


class ServiceError(Exception):
    """The service could not be reached or answered with an unexpected status."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


def parse_loopback_url(url: str) -> Endpoint:
    """Parses http://HOST[:PORT][/] with HOST on loopback; raises UsageError otherwise."""
    match = _URL_RE.match(url.strip())
    if not match:
        raise UsageError(
            f"refusing URL '{url}': only http://HOST[:PORT] with HOST in 127.0.0.0/8 or "
            "localhost is allowed")
    host = match.group(1)
    if host == "localhost":
        host = "127.0.0.1"
    if any(int(octet) > 255 for octet in host.split(".")):
        raise UsageError(f"refusing URL '{url}': not an IPv4 address")
    port = int(match.group(2) or 80)
    if not 1 <= port <= 65535:
        raise UsageError(f"refusing URL '{url}': port out of range")
    return Endpoint(host, port)


class JsonClient:
    """One keep-alive HTTP/1.1 connection; reconnects once if the server closed it."""

    def __init__(self, endpoint: Endpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "JsonClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self.endpoint.host, self.endpoint.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, data
            except (ConnectionError, http.client.HTTPException, OSError) as err:
                self.close()
                # A kept-alive connection the server closed meanwhile: retry once on a
                # new one. Anything else (refused, timeout) is final.
                stale = isinstance(err, (http.client.RemoteDisconnected, BrokenPipeError,
                                         ConnectionResetError))
                if attempt == 0 and stale:
                    continue
                raise ServiceError(
                    f"{method} {self.endpoint.base}{path} failed: {err}") from err
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload: Any = None,
             expect: int = 200) -> Any:
        """Sends payload as JSON (if given), checks the status, returns the decoded body."""
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body)
        if status != expect:
            raise ServiceError(
                f"{method} {path}: HTTP {status} (expected {expect}): "
                f"{data[:300].decode(errors='replace')}")
        try:
            return json.loads(data)
        except ValueError as err:
            raise ServiceError(f"{method} {path}: body is not JSON: {err}") from err


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr)
