"""Faults between us and a real Redmine: 5xx answers and dropped connections, injected by a
tiny loopback proxy in front of the real server (the Redmine behind it is real, only the
transport fails). Reads are retried with backoff, a bounded number of times; writes only
where sending them twice does no harm. And a batch in which Redmine refuses one issue still
records the values that were written.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr
from redminelib import Redmine

from tracker_bridge.adapters.redmine import RedmineAdapter
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.errors import RejectedError, TrackerError
from tracker_bridge.model import DesiredPage, DesiredState
from tracker_bridge.pipeline import apply_and_record
from tracker_bridge.settings import FieldNames, ProjectSettings, TrackerSettings
from tracker_bridge.store import Store

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Fault:
    """Fail the next ``times`` requests whose method is ``method`` and whose path contains
    ``path``: answer ``status``, or (``status`` None) close the connection without an answer
    -- before forwarding, or after it when ``after_forward`` (the write happened, the answer
    is lost)."""

    method: str
    path: str
    status: int | None = None
    times: int = 1
    after_forward: bool = False


@dataclass
class FaultyProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    #: (method, path, what happened) per request received
    log: list[tuple[str, str, str]] = field(default_factory=list)
    url: str = ""

    def fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path in path:
                fault.times -= 1
                return fault
        return None

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any, bytes]:
        target = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(method, path, body=body or None, headers=sent)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


def _handler(proxy: FaultyProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = proxy.fault_for(self.command, self.path)
            if fault is not None and fault.status is None and not fault.after_forward:
                proxy.log.append((self.command, self.path, "dropped"))
                self.close_connection = True
                return  # no answer at all: the client sees the connection end
            if fault is not None and fault.status is not None:
                proxy.log.append((self.command, self.path, str(fault.status)))
                payload = b'{"errors":["injected"]}'
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            status, headers, payload = proxy.forward(self.command, self.path, self.headers, body)
            if fault is not None:  # forwarded, then the answer is lost
                proxy.log.append((self.command, self.path, "forwarded, answer dropped"))
                self.close_connection = True
                return
            proxy.log.append((self.command, self.path, str(status)))
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = _any

    return Handler


@pytest.fixture
def proxy(redmine: LocalRedmine) -> Iterator[FaultyProxy]:
    state = FaultyProxy(upstream=redmine.url)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def make_adapter(url: str, redmine: LocalRedmine, identifier: str) -> RedmineAdapter:
    adapter = RedmineAdapter(
        TrackerSettings(kind="redmine", url=url, api_key_env="TB_TEST_REDMINE_KEY"),
        ProjectSettings(tracker="redmine", project=identifier),
        FieldNames(),
        SecretStr(redmine.bot_key),
    )
    adapter._client.session.backoff_seconds = 0.01  # the waits themselves: see test below
    return adapter


def seed(redmine: LocalRedmine, project_id: int, n: int) -> list[int]:
    admin = Redmine(redmine.url, key=redmine.admin_key)
    try:
        return [admin.issue.create(project_id=project_id, subject=f"Item {i}").id for i in range(n)]
    finally:
        admin.engine.session.close()


def test_reads_are_retried_after_5xx_and_dropped_connections(
    redmine: LocalRedmine, redmine_project: Any, proxy: FaultyProxy
) -> None:
    seed(redmine, redmine_project.id, 3)
    with make_adapter(redmine.url, redmine, redmine_project.identifier) as direct:
        expected = direct.fetch().snapshot
    proxy.faults = [
        Fault("GET", "/users/current.json", status=503),
        Fault("GET", "/issues.json", status=None),
        Fault("GET", "/issues.json", status=502),
    ]
    with make_adapter(proxy.url, redmine, redmine_project.identifier) as adapter:
        waits: list[float] = []
        adapter._client.session._sleep = waits.append
        snapshot = adapter.fetch().snapshot
    assert [i.key for i in snapshot.items] == [i.key for i in expected.items]
    assert [what for _, _, what in proxy.log[:2]] == ["503", "200"]
    assert sum(what in ("503", "502", "dropped") for _, _, what in proxy.log) == 3
    assert waits == [0.01, 0.01, 0.02]  # per request: 0.01 s, then doubled


def test_read_retries_are_bounded(
    redmine: LocalRedmine, redmine_project: Any, proxy: FaultyProxy
) -> None:
    proxy.faults = [Fault("GET", "/users/current.json", status=500, times=10)]
    with (
        make_adapter(proxy.url, redmine, redmine_project.identifier) as adapter,
        pytest.raises(TrackerError) as err,
    ):
        adapter.fetch()
    assert err.value.status == 500 and "internal error" in str(err.value)
    assert len(proxy.log) == 1 + adapter._client.session.retries == 4
    assert redmine.bot_key not in str(err.value)


def test_same_value_issue_writes_are_retried_wiki_writes_are_not(
    redmine: LocalRedmine, redmine_project: Any, proxy: FaultyProxy
) -> None:
    ids = seed(redmine, redmine_project.id, 2)
    desired = DesiredState(fields={f"redmine:{i}": {"total_float": 4} for i in ids})
    with make_adapter(proxy.url, redmine, redmine_project.identifier) as adapter:
        changes = adapter.diff(adapter.fetch().snapshot, desired)
        # the first PUT reaches Redmine but its answer is lost: sent again, same values
        proxy.faults = [Fault("PUT", f"/issues/{ids[0]}.json", after_forward=True)]
        report = adapter.apply(changes)
        assert report.issues_updated == 2
        assert adapter.diff(adapter.fetch().snapshot, desired).fields == []
        puts = [what for method, path, what in proxy.log if method == "PUT"]
        assert puts == ["forwarded, answer dropped", "204", "204"]
        # a wiki page PUT (carries a version) is sent once, never repeated
        proxy.faults = [Fault("PUT", "/wiki/", status=503)]
        proxy.log.clear()
        page = DesiredState(pages=[DesiredPage(title="Plan", body="hello")])
        with pytest.raises(TrackerError):
            adapter.apply(adapter.diff(adapter.fetch().snapshot, page))
        assert [what for method, _, what in proxy.log if method == "PUT"] == ["503"]


def test_a_refused_issue_still_records_the_values_written(
    redmine: LocalRedmine, redmine_project: Any, tmp_path: Path
) -> None:
    ids = seed(redmine, redmine_project.id, 3)
    desired = DesiredState(
        fields={
            f"redmine:{ids[0]}": {"total_float": 1},
            f"redmine:{ids[1]}": {"total_float": "not a number"},  # Redmine answers 422
            f"redmine:{ids[2]}": {"total_float": 3},
        }
    )
    with (
        make_adapter(redmine.url, redmine, redmine_project.identifier) as adapter,
        Store.open(tmp_path / "state.sqlite") as store,
    ):
        changes = adapter.diff(adapter.fetch().snapshot, desired)
        with pytest.raises(RejectedError) as err:
            apply_and_record(adapter, changes, store, "web")
        assert f"issue #{ids[1]}" in str(err.value) and "422" in str(err.value)
        assert store.written_value("web", f"redmine:{ids[0]}", "total_float") == "1"
        assert store.written_value("web", f"redmine:{ids[2]}", "total_float") == "3"
        assert store.written_value("web", f"redmine:{ids[1]}", "total_float") is None
