"""A real ``huhang serve`` process for tests and benchmarks: a free port, and waiting until the
server answers.

``tests/test_service_process.py`` and ``bench/http.py`` start the server as a process of its
own and both wait for it the same way (``httpx`` comes with the ``serve`` extra)::

    port = free_port()
    process = subprocess.Popen([..., "serve", "--port", str(port)])
    wait_until_serving(process, port, timeout=30)
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

#: seconds between two tries
POLL = 0.1


class ServeFailed(RuntimeError):
    """The server exited, or did not answer in time (it was killed then)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(
    process: subprocess.Popen[bytes],
    port: int,
    *,
    timeout: float,
    output: Callable[[], str] | None = None,
) -> None:
    """Return once ``GET /healthz`` on ``port`` answers 200.

    Raises :class:`ServeFailed` when ``process`` exits first or ``timeout`` seconds pass (the
    process is killed then); ``output`` gives what the server wrote, for the message.
    """
    import httpx

    def failed(why: str) -> ServeFailed:
        said = output() if output is not None else ""
        return ServeFailed(f"huhang serve {why}" + (f":\n{said}" if said else ""))

    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise failed(f"exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL)
    process.kill()
    process.wait()
    raise failed(f"did not answer within {timeout:g} s")
