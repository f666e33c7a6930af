"""Authenticated but malformed deliveries: never a server error.

Each body carries a valid signature, so it gets past verification and reaches the parsing
and mapping code. The named cases are the ones an outside probe found; the fuzz test sends
10,000 deliveries built by a seeded generator from the real GitHub examples and our Redmine
payloads, with hostile values spliced in as raw JSON text (what ``json.dumps`` would never
write: deep nesting, 5,000-digit integers, ``1e400``, ``NaN``, lone surrogates).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_webhook import (
    GITHUB_SECRET,
    REDMINE_SECRET,
    REDMINE_TOKEN,
    Clock,
    all_ok,
    make_settings,
    plugin_issue_payload,
    redmine7_issue_updated,
    secrets_env,  # noqa: F401 - the autouse fixture that sets the webhook secrets
)

from tracker_bridge.adapters.github.webhooks import GITHUB_EVENTS
from tracker_bridge.webhook import sign

FUZZ_DELIVERIES = 10_000
#: A journal that sets one of our fields: the payload walks the echo check too.
CF_DETAIL = [{"property": "cf", "prop_key": "11", "old_value": "0", "value": "1"}]
SEED = 20261204

#: Raw JSON texts that break naive parsing or handling.
HOSTILE = [
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "9" * 5000,
    "-" + "1" * 4301,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    '"\\ud800"',
    '"x\\udfff"',
    '"\\u0000"',
    '"abc"',
    '""',
    "true",
    "null",
    "0",
    "-1",
    "1.5",
    "[]",
    "{}",
    '[{"id": "x"}]',
    '{"id": {"id": {}}}',
    '"' + "x" * 10_000 + '"',
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from tracker_bridge.webhook import create_app

    settings = make_settings(tmp_path, max_body_bytes=256 * 1024)
    with TestClient(create_app(settings, clock=Clock(), check=all_ok)) as c:
        yield c


def github(client: TestClient, event: str, body: bytes, delivery: str = "d-1") -> Any:
    return client.post(
        "/hooks/github",
        content=body,
        headers={
            "X-GitHub-Event": event.encode(),  # the fuzz sends non-ASCII names too
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(GITHUB_SECRET.encode(), body),
        },
    )


def redmine(client: TestClient, body: bytes, *, signed: bool) -> Any:
    if signed:
        headers = {"X-Redmine-Signature-256": sign(REDMINE_SECRET.encode(), body)}
        return client.post("/hooks/redmine", content=body, headers=headers)
    return client.post(f"/hooks/redmine?token={REDMINE_TOKEN}", content=body)


def splice(payload: Any, path: list[str | int], raw: str) -> bytes:
    """``payload`` as JSON with the value at ``path`` replaced by the raw JSON text ``raw``."""
    marker = "@@HOSTILE@@"
    doc = copy.deepcopy(payload)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = marker
    return json.dumps(doc).replace(json.dumps(marker), raw).encode()


# ----------------------------------------------------------------- the probe's findings


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (["changes"], "[" * 5000 + "]" * 5000),
        (["changes", "field_value", "project_number"], '"abc"'),
        (["changes", "field_value", "project_number"], "9" * 5000),
        (["changes", "field_value", "project_number"], "1e400"),
        (["zen"], "NaN"),
        (["zen"], "Infinity"),
        (["zen"], '"\\ud800"'),
        (["zen"], "[" * 900 + "]" * 900),
        (["organization", "login"], '{"login": ["x"]}'),
    ],
)
def test_hostile_github_values_are_client_errors_or_ignored(
    client: TestClient, examples: dict[str, Any], path: list[str], raw: str
) -> None:
    # an edit on the configured board (org:Octocoders/1), so the mapping reads every field
    item = copy.deepcopy(next(x for x in examples["projects_v2_item"] if x.get("organization")))
    item["zen"] = "z"
    item.setdefault("changes", {}).setdefault("field_value", {})["project_number"] = 1
    for event in ("projects_v2_item", "ping"):
        answer = github(client, event, splice(item, path, raw), delivery=f"{event}-{raw[:9]}")
        assert answer.status_code in (200, 202, 400), (event, raw[:40], answer.text[:200])
        json.loads(answer.content)  # always a JSON answer (never NaN, never a lone surrogate)


def test_ping_echoes_only_a_text_zen(client: TestClient) -> None:
    assert github(client, "ping", b'{"zen": "Keep it logically awesome."}').json()["zen"] == (
        "Keep it logically awesome."
    )
    assert github(client, "ping", b'{"zen": {"a": [1, 2]}}').json()["zen"] is None
    assert github(client, "ping", b'{"zen": NaN}').status_code == 400


@pytest.mark.parametrize(
    "raw",
    ['"not a list"', "42", '{"id": 1}', "[1, [2], null]", "1e400", '"\\udc00"', "9" * 5000],
)
def test_redmine_lists_that_are_not_lists(client: TestClient, raw: str) -> None:
    core = redmine7_issue_updated(details=CF_DETAIL)
    plugin = plugin_issue_payload()
    bodies = [
        (splice(core, ["data", "issue", "custom_fields"], raw), True),
        (splice(core, ["data", "journal", "details"], raw), True),
        (splice(core, ["type"], raw), True),
        (splice(plugin, ["payload", "issue", "custom_field_values"], raw), False),
        (splice(plugin, ["payload", "journal", "details"], raw), False),
        (splice(plugin, ["payload", "issue", "project", "identifier"], raw), False),
    ]
    for body, signed in bodies:
        answer = redmine(client, body, signed=signed)
        assert answer.status_code in (200, 202, 400), (raw[:40], answer.text[:200])


# ------------------------------------------------------------------------------ fuzz


def _paths(node: Any, prefix: list[str | int], out: list[list[str | int]], depth: int) -> None:
    if depth > 6:
        return
    items: list[tuple[str | int, Any]] = (
        list(node.items())
        if isinstance(node, dict)
        else list(enumerate(node))
        if isinstance(node, list)
        else []
    )
    for key, value in items[:30]:
        out.append([*prefix, key])
        _paths(value, [*prefix, key], out, depth + 1)


class Bodies:
    """Seeded generator of (endpoint, event, body) over real payloads and hostile values."""

    def __init__(self, examples: dict[str, Any], seed: int) -> None:
        self.rng = random.Random(seed)
        self.github = [
            (event, payload)
            for event in (*sorted(GITHUB_EVENTS), "ping")
            for payload in examples.get(event, [])[:3]
        ]
        self.redmine = [
            (redmine7_issue_updated(details=CF_DETAIL), True),
            (plugin_issue_payload(), False),
        ]
        self.paths: dict[int, list[list[str | int]]] = {}

    def _mutate(self, payload: Any) -> bytes:
        rng = self.rng
        key = id(payload)
        if key not in self.paths:
            found: list[list[str | int]] = []
            _paths(payload, [], found, 0)
            self.paths[key] = found
        roll = rng.random()
        if roll < 0.002:  # over max_body_bytes (256 KiB here): 413
            return b'{"a": "' + b"x" * 300_000 + b'"}'
        if roll < 0.05:
            return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        if roll < 0.10:
            text = json.dumps(payload).encode()
            return text[: rng.randrange(0, len(text))]  # truncated
        if roll < 0.15:
            return rng.choice(HOSTILE).encode()  # a hostile top level
        body = payload
        raw = rng.choice(HOSTILE)
        paths = self.paths[key]
        return splice(body, rng.choice(paths), raw) if paths else json.dumps(body).encode()

    def __iter__(self) -> Iterator[tuple[str, str, bytes, bool]]:
        rng = self.rng
        for _ in range(FUZZ_DELIVERIES):
            if rng.random() < 0.75:
                event, payload = rng.choice(self.github)
                if rng.random() < 0.1:
                    event = rng.choice(["issues", "ping", "x" * 300, "é", ""])
                yield "github", event, self._mutate(payload), True
            else:
                payload, signed = rng.choice(self.redmine)
                yield "redmine", "", self._mutate(payload), signed


async def call_asgi(app: Any, path: str, headers: dict[str, bytes], body: bytes) -> int:
    """One POST straight into the ASGI app (no HTTP client in between): its status code."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v) for k, v in headers.items()],
        "client": ("203.0.113.9", 40000),
        "server": ("testserver", 80),
    }
    sent = False
    status: list[int] = []
    answer: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    json.loads(b"".join(answer))  # always a JSON answer (never NaN, never a lone surrogate)
    return status[0]


@pytest.fixture
def ram_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory in RAM when the machine has one: about 4,500 of the deliveries commit to
    the store, and the test is about parsing, not about the disk's fsync."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(dir=shm, prefix="tb-fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_ten_thousand_signed_hostile_deliveries_give_no_server_error(
    ram_dir: Path, examples: dict[str, Any]
) -> None:
    from tracker_bridge.webhook import create_app

    settings = make_settings(ram_dir, max_body_bytes=256 * 1024)
    app = create_app(settings, clock=Clock(), check=all_ok)
    statuses: dict[int, int] = {}

    async def fuzz() -> None:
        for n, (endpoint, event, body, signed) in enumerate(Bodies(examples, SEED)):
            if endpoint == "github":
                path, headers = (
                    "/hooks/github",
                    {
                        "X-GitHub-Event": event.encode(),
                        "X-GitHub-Delivery": f"fuzz-{n}".encode(),
                        "X-Hub-Signature-256": sign(GITHUB_SECRET.encode(), body).encode(),
                    },
                )
            elif signed:
                path = "/hooks/redmine"
                headers = {"X-Redmine-Signature-256": sign(REDMINE_SECRET.encode(), body).encode()}
            else:
                path, headers = f"/hooks/redmine?token={REDMINE_TOKEN}", {}
            code = await call_asgi(app, path, headers, body)
            statuses[code] = statuses.get(code, 0) + 1
            assert code < 500, (endpoint, event, body[:200])

    asyncio.run(fuzz())
    app.state.webhooks.close()
    assert sum(statuses.values()) == FUZZ_DELIVERIES
    assert statuses.get(400, 0) > 1000 and statuses.get(202, 0) > 1000, statuses
    assert statuses.get(413, 0) > 5, statuses
    # the server is healthy afterwards: it answers, queues and its store is writable
    with TestClient(app) as client:
        assert client.get("/livez").json() == {"ok": True}
        assert client.get("/readyz").status_code == 200
        fresh = json.dumps(examples["issues"][0]).encode()
        queued = github(client, "issues", fresh, delivery="after-the-fuzz")
    assert queued.json()["status"] == "queued"
