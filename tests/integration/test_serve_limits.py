"""`tracker-bridge serve` on loopback against slow and idle clients (a real uvicorn).

The server runs as a child process with the open-files limit of a default service (1,024),
so a crowd of idle connections would exhaust it; the test process holds the client sockets.
No tracker is called (``--no-worker --skip-checks``).
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from tracker_bridge.webhook import sign

SECRET = "serve-limits-secret-for-tests"
SERVER_FILES = 1024  # a service's usual RLIMIT_NOFILE
ISSUE = {
    "action": "edited",
    "issue": {"number": 1, "title": "t"},
    "repository": {"full_name": "octo/web"},
    "sender": {"login": "alice"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FILES, SERVER_FILES))


Server = Callable[..., tuple[int, Path]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Server]:
    """Start ``serve`` with the given ``[webhooks]`` settings; (port, stderr file)."""
    with ExitStack() as stack:

        def start(**webhooks: float) -> tuple[int, Path]:
            port = free_port()
            config = tmp_path / f"tb-{port}.toml"
            hooks = "".join(f"{key} = {value}\n" for key, value in webhooks.items())
            config.write_text(
                f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n\n'
                '[trackers.gh]\nkind = "github"\n\n'
                '[projects.web]\ntracker = "gh"\nproject = "octo/web"\n\n'
                f'[webhooks]\ngithub_secret_env = "TB_LIMITS_SECRET"\n{hooks}',
                encoding="utf-8",
            )
            log = tmp_path / f"serve-{port}.log"
            command = "from tracker_bridge.cli import main; main()"
            args = ["serve", "--port", str(port), "--no-worker", "--skip-checks"]
            process = subprocess.Popen(
                [sys.executable, "-c", command, *args, "--config", str(config)],
                env={**os.environ, "TB_LIMITS_SECRET": SECRET},
                stdout=subprocess.DEVNULL,
                stderr=stack.enter_context(log.open("wb")),
                preexec_fn=_limit_files,
            )
            stack.callback(_stop, process)
            deadline = time.monotonic() + 30
            while not _answers(port):
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
            return port, log

        yield start


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/livez")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def deliver(port: int, delivery: str, timeout: float = 10.0) -> tuple[int, float]:
    """A valid signed delivery on a new connection: (status, seconds from connect)."""
    body = json.dumps(ISSUE).encode()
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/hooks/github",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": sign(SECRET.encode(), body),
            },
        )
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.monotonic() - started


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closed ``sock`` (None: still open after ``seconds``); with
    ``trickle``, one byte of it is sent every 0.3 s meanwhile (a slow body)."""
    started = time.monotonic()
    sock.settimeout(0.3)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if trickle and sent < len(trickle):
            try:
                sock.send(trickle[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
            sent += 1
    return None


def settled(sockets: list[socket.socket], seconds: float = 20.0) -> None:
    """Wait until every non-blocking connect finished (connected, or refused or closed):
    connects the listen queue dropped are retried by TCP after 1 s, 3 s, ..."""
    poller = select.poll()
    pending = {s.fileno() for s in sockets}
    for fd in pending:
        poller.register(fd, select.POLLOUT)
    deadline = time.monotonic() + seconds
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} connects still pending"
        for fd, _events in poller.poll(500):
            poller.unregister(fd)
            pending.discard(fd)


def test_idle_unfinished_and_slow_requests_are_closed(serve: Server) -> None:
    port, _log = serve(request_timeout_seconds=1, keep_alive_seconds=1)
    idle = socket.create_connection(("127.0.0.1", port))
    header = socket.create_connection(("127.0.0.1", port))
    header.sendall(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: iss")
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(
        b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        b"X-GitHub-Event: issues\r\n\r\n"
    )
    with idle, header, slow:
        assert closed_within(idle, 6) is not None, "an idle connection stayed open"
        assert closed_within(header, 6) is not None, "an unfinished header stayed open"
        assert closed_within(slow, 6, trickle=b"x" * 100) is not None, "a slow body stayed open"
    # a request that arrives in time is answered as before
    assert deliver(port, "after-timeouts")[0] == 202


def test_many_idle_connections_do_not_lock_out_a_delivery(serve: Server) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or hard == resource.RLIM_INFINITY:  # the clients' side
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    # a long request deadline: here only the connection cap can help
    port, log = serve(request_timeout_seconds=120)
    sockets: list[socket.socket] = []
    try:
        for _ in range(1100):
            sock = socket.socket()
            sock.setblocking(False)
            with suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            sockets.append(sock)
        settled(sockets)
        # the handshakes the full listen queue held back complete with the server's SYN-ACK
        # retransmits (after 1 s, then 2 s more): then the crowd is in and idle
        time.sleep(4)
        timings = [deliver(port, f"crowd-{n}", timeout=5) for n in range(5)]
        assert _answers(port)
    finally:
        for sock in sockets:
            sock.close()
    assert [status for status, _ in timings] == [202] * 5
    assert max(seconds for _, seconds in timings) < 1.0, timings
    text = log.read_text(errors="replace")
    assert text.count("out of system resource") <= 1, text[-2000:]
    assert "Traceback" not in text
