"""The webhook server, the queue and the worker, in-process (starlette's TestClient; no network).

GitHub deliveries are the real payloads of ``@octokit/webhooks-examples`` (fetched by the
contract helper of ``tests/adapters/github_contract.py`` into ``.cache/github-contract/``).
That package has no ``sub_issues`` or ``issue_dependencies`` examples yet, so those payloads
are assembled from the real ``issues`` example's parts and validated against the webhook
schemas of GitHub's OpenAPI description (``webhook-sub-issues-sub-issue-added``, ...).

Redmine payloads are hand-written from their sources, which are their only documentation:
Redmine 7.0 core webhooks from ``app/models/webhook_payload.rb`` (and
``Issue::Webhookable``), whose issue is rendered by ``app/views/issues/show.api.rsb``; the
redmine_webhook plugin from its README (github.com/suer/redmine_webhook) and the fact sheet
(``shared/reference/tracker-apis.md`` 1.14).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tracker_bridge import pipeline
from tracker_bridge.adapters.protocol import FetchResult
from tracker_bridge.adapters.redmine.webhooks import parse_redmine
from tracker_bridge.cli import main
from tracker_bridge.demo.postgres import LocalPostgres
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    DesiredState,
    FieldChange,
    Finding,
    Project,
    Snapshot,
    WorkItem,
)
from tracker_bridge.pipeline import PassResult, run_pass
from tracker_bridge.publish import PlainStyle
from tracker_bridge.settings import Settings, settings_from_dict
from tracker_bridge.store import Store, project_lock
from tracker_bridge.webhook import create_app, sign, verify_signature
from tracker_bridge.worker import Worker

GITHUB_SECRET = "gh-webhook-secret-for-tests"
REDMINE_SECRET = "rm-webhook-secret-for-tests"
REDMINE_TOKEN = "rm-plugin-token-for-tests"
BOT = "tracker-bridge-bot"
REDMINE_PROJECT_ID = 4


# ------------------------------------------------------------------------ contract data
# ``contract`` and ``examples`` (the real GitHub webhook payloads) are in conftest.py.


def _validate(contract: Any, schema: str, payload: dict[str, Any]) -> None:
    """Hold an assembled payload to the webhook schema in GitHub's OpenAPI description."""
    validator = contract.openapi._validator(
        ("webhook", schema, ""), {"$ref": f"#/components/schemas/{schema}"}
    )
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(payload)]
    assert not errors, f"{schema}: " + "; ".join(errors[:5])


@pytest.fixture(scope="session")
def sub_issue_added(examples: dict[str, list[dict[str, Any]]], contract: Any) -> dict[str, Any]:
    base = next(x for x in examples["issues"] if x["action"] == "opened")
    parent, child = copy.deepcopy(base["issue"]), copy.deepcopy(base["issue"])
    child["id"] += 1
    child["number"] += 1
    payload = {
        "action": "sub_issue_added",
        "sub_issue_id": child["id"],
        "sub_issue": child,
        "sub_issue_repo": base["repository"],
        "parent_issue_id": parent["id"],
        "parent_issue": parent,
        "repository": base["repository"],
        "sender": base["sender"],
    }
    _validate(contract, "webhook-sub-issues-sub-issue-added", payload)
    return payload


@pytest.fixture(scope="session")
def blocked_by_added(examples: dict[str, list[dict[str, Any]]], contract: Any) -> dict[str, Any]:
    base = next(x for x in examples["issues"] if x["action"] == "opened")
    org = next(x["organization"] for x in examples["issues"] if x.get("organization"))
    blocked, blocking = copy.deepcopy(base["issue"]), copy.deepcopy(base["issue"])
    blocking["id"] += 7
    blocking["number"] += 7
    payload = {
        "action": "blocked_by_added",
        "blocked_issue_id": blocked["id"],
        "blocked_issue": blocked,
        "blocking_issue_id": blocking["id"],
        "blocking_issue": blocking,
        "blocking_issue_repo": base["repository"],
        "repository": base["repository"],
        "organization": org,
        "sender": base["sender"],
    }
    _validate(contract, "webhook-issue-dependencies-blocked-by-added", payload)
    return payload


# -------------------------------------------------------------------- redmine payloads


def redmine7_issue_updated(
    *,
    issue_id: int = 42,
    project_id: int = REDMINE_PROJECT_ID,
    user_id: int = 7,
    details: list[dict[str, Any]] | None = None,
    timestamp: str = "2026-03-02T10:15:00Z",
) -> dict[str, Any]:
    """Redmine 7.0 ``issue.updated`` (webhook_payload.rb + issues/show.api.rsb)."""
    return {
        "type": "issue.updated",
        "timestamp": timestamp,
        "data": {
            "issue": {
                "id": issue_id,
                "project": {"id": project_id, "name": "Order management"},
                "tracker": {"id": 2, "name": "Feature"},
                "status": {"id": 2, "name": "In Progress"},
                "priority": {"id": 2, "name": "Normal"},
                "author": {"id": 1, "name": "Redmine Admin"},
                "subject": "Checkout page",
                "description": "",
                "start_date": "2026-03-02",
                "due_date": None,
                "done_ratio": 0,
                "is_private": False,
                "estimated_hours": 24.0,
                "custom_fields": [
                    {"id": 11, "name": "Critical", "value": "1"},
                    {"id": 14, "name": "Early finish", "value": "2026-03-06"},
                ],
                "created_on": "2026-02-20T09:00:00Z",
                "updated_on": timestamp,
                "closed_on": None,
            },
            "journal": {
                "id": 901,
                "created_on": timestamp,
                "notes": "",
                "user": {"id": user_id, "name": "Alice Planner"},
                "details": details
                if details is not None
                else [
                    {
                        "property": "attr",
                        "prop_key": "estimated_hours",
                        "old_value": "16.0",
                        "value": "24.0",
                    }
                ],
            },
        },
    }


def plugin_issue_payload(
    *,
    action: str = "updated",
    identifier: str = "order-management",
    author: str = "alice",
    details: list[dict[str, Any]] | None = None,
    updated_on: str = "2026-03-02T10:15:00Z",
) -> dict[str, Any]:
    """The redmine_webhook plugin's payload (its README; fact sheet 1.14)."""
    issue = {
        "id": 42,
        "subject": "Checkout page",
        "description": "",
        "created_on": "2026-02-20T09:00:00Z",
        "updated_on": updated_on,
        "closed_on": None,
        "root_id": 42,
        "parent_id": None,
        "done_ratio": 0,
        "start_date": "2026-03-02",
        "due_date": None,
        "estimated_hours": 24,
        "is_private": False,
        "lock_version": 3,
        "custom_field_values": [
            {"custom_field_id": 11, "custom_field_name": "Critical", "value": "1"},
            {"custom_field_id": 14, "custom_field_name": "Early finish", "value": "2026-03-06"},
        ],
        "project": {"id": REDMINE_PROJECT_ID, "identifier": identifier, "name": "Orders"},
        "status": {"id": 2, "name": "In Progress"},
        "tracker": {"id": 2, "name": "Feature"},
        "priority": {"id": 2, "name": "Normal"},
        "author": {"id": 1, "login": "admin", "firstname": "Redmine", "lastname": "Admin"},
        "assignee": None,
        "watchers": [],
    }
    payload: dict[str, Any] = {"action": action, "url": "https://redmine.example/issues/42"}
    payload["issue"] = issue
    if action == "updated":
        payload["journal"] = {
            "id": 901,
            "notes": "",
            "created_on": updated_on,
            "private_notes": False,
            "author": {"id": 9, "login": author, "firstname": "A", "lastname": "B"},
            "details": details
            if details is not None
            else [
                {
                    "property": "attr",
                    "prop_key": "estimated_hours",
                    "old_value": "16",
                    "value": "24",
                }
            ],
        }
    return {"payload": payload}


# ------------------------------------------------------------------------------ set-up


@dataclass
class Clock:
    now: float = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakePasses:
    """A pass function that records its calls and fails while ``fail`` is set."""

    calls: list[str] = field(default_factory=list)
    fail: str | None = None

    def __call__(self, settings: Settings, project: str, store: Store) -> PassResult:
        self.calls.append(project)
        if self.fail is not None:
            return PassResult(project=project, error=self.fail)
        return PassResult(project=project, ok=True)


def make_settings(
    tmp_path: Path, *, store: dict[str, str] | None = None, **webhooks: Any
) -> Settings:
    hooks: dict[str, Any] = {
        "github_secret_env": "TB_TEST_GITHUB_SECRET",
        "redmine_secret_env": "TB_TEST_REDMINE_SECRET",
        "redmine_token_env": "TB_TEST_REDMINE_TOKEN",
        "bot_logins": [BOT, "planbot"],
        "redmine_bot_user_ids": [99],
        "redmine_project_ids": {"orders": REDMINE_PROJECT_ID},
        "debounce_seconds": 5,
        "max_wait_seconds": 20,
        "max_body_bytes": 64 * 1024,
        "lease_seconds": 60,
        "max_attempts": 3,
        "retry_backoff_seconds": 10,
    }
    hooks.update(webhooks)
    return settings_from_dict(
        {
            "store": store or {"path": str(tmp_path / "state.sqlite3")},
            "trackers": {
                "gh": {"kind": "github", "api_key_env": "TB_TEST_GH_TOKEN"},
                "rm": {
                    "kind": "redmine",
                    "url": "https://redmine.example",
                    "api_key_env": "TB_TEST_RM_KEY",
                },
            },
            "projects": {
                "web": {
                    "tracker": "gh",
                    "project": "Codertocat/Hello-World",
                    "github": {
                        "repositories": ["Codertocat/Hello-World", "octo-org/octo-repo"],
                        "project_v2": "org:Octocoders/1",
                    },
                },
                "orders": {"tracker": "rm", "project": "order-management"},
            },
            "webhooks": hooks,
        }
    )


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TB_TEST_GITHUB_SECRET", GITHUB_SECRET)
    monkeypatch.setenv("TB_TEST_REDMINE_SECRET", REDMINE_SECRET)
    monkeypatch.setenv("TB_TEST_REDMINE_TOKEN", REDMINE_TOKEN)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, store_section: dict[str, str]) -> Settings:
    """The test config, once with an SQLite store and once with PostgreSQL."""
    return make_settings(tmp_path, store=store_section)


def all_ok(settings: Settings, project: str) -> list[Finding]:
    return [Finding(id="redmine.auth.ok", ok=True, message="fine")]


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, check=all_ok)) as c:
        yield c


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings.store) as s:
        yield s


_delivery_counter = iter(range(1, 1_000_000))


def post_github(
    client: TestClient,
    event: str,
    payload: Any,
    *,
    delivery: str | None = None,
    secret: str = GITHUB_SECRET,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    raw = body if body is not None else json.dumps(payload).encode()
    sent = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or f"d-{next(_delivery_counter)}",
        "X-Hub-Signature-256": sign(secret.encode(), raw),
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    sent.update(headers or {})
    return client.post("/hooks/github", content=raw, headers=sent)


def post_redmine7(client: TestClient, payload: Any, *, secret: str = REDMINE_SECRET) -> Any:
    raw = json.dumps(payload).encode()
    return client.post(
        "/hooks/redmine",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Redmine",
            "X-Redmine-Signature-256": sign(secret.encode(), raw),
        },
    )


def post_plugin(client: TestClient, payload: Any, *, token: str | None = REDMINE_TOKEN) -> Any:
    url = "/hooks/redmine" + (f"?token={token}" if token is not None else "")
    return client.post(url, json=payload)


# --------------------------------------------------------------------------- signatures


def test_hmac_test_vector_from_githubs_documentation() -> None:
    secret, body = b"It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(secret, body) == expected
    assert verify_signature(secret, body, expected)
    assert not verify_signature(secret, body + b" ", expected)
    assert not verify_signature(secret, body, expected.replace("sha256=", "sha1="))
    assert not verify_signature(secret, body, None)
    assert not verify_signature(secret, body, "")


def test_the_test_vector_passes_through_the_endpoint(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub's vector body is not JSON: a valid signature then gets 400, not 401
    monkeypatch.setenv("TB_TEST_GITHUB_SECRET_VECTOR", "It's a Secret to Everybody")
    settings = make_settings(tmp_path, github_secret_env="TB_TEST_GITHUB_SECRET_VECTOR")
    with TestClient(create_app(settings, clock=clock, check=all_ok)) as c:
        ok = c.post(
            "/hooks/github",
            content=b"Hello, World!",
            headers={
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": "v-1",
                "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586"
                "c22c46f4379c8b043e17",
            },
        )
    assert ok.status_code == 400 and "JSON" in ok.json()["error"]


# ------------------------------------------------------------------------ GitHub events


def test_ping_answers_pong(client: TestClient, examples: dict[str, Any]) -> None:
    for payload in examples["ping"]:
        resp = post_github(client, "ping", payload)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "pong"
        assert resp.json()["zen"] == payload["zen"]


@pytest.mark.parametrize("event", ["issues", "milestone", "projects_v2_item"])
def test_every_real_example_is_queued_for_its_project(
    client: TestClient, store: Store, examples: dict[str, Any], event: str
) -> None:
    for i, payload in enumerate(examples[event]):
        resp = post_github(client, event, payload, delivery=f"{event}-{i}")
        assert resp.status_code == 202, (event, payload.get("action"), resp.text)
        body = resp.json()
        if event == "projects_v2_item" and payload["organization"]["login"] != "Octocoders":
            assert body["status"] == "ignored"  # another organisation's board
            continue
        assert body == {"status": "queued", "delivery": f"{event}-{i}", "jobs": body["jobs"]}
        assert list(body["jobs"]) == ["web"]
    # every delivery coalesced into the one waiting job of the project
    queued = store.list_jobs(["queued"])
    assert [(j.project, j.deliveries) for j in queued] == [
        (
            "web",
            sum(
                1
                for p in examples[event]
                if event != "projects_v2_item" or p["organization"]["login"] == "Octocoders"
            ),
        )
    ]


def test_sub_issue_and_dependency_events_are_queued(
    client: TestClient, sub_issue_added: dict[str, Any], blocked_by_added: dict[str, Any]
) -> None:
    for event, payload in (
        ("sub_issues", sub_issue_added),
        ("issue_dependencies", blocked_by_added),
    ):
        resp = post_github(client, event, payload)
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "queued" and list(resp.json()["jobs"]) == ["web"]


def test_an_unknown_event_is_acknowledged_and_ignored(
    client: TestClient, store: Store, examples: dict[str, Any]
) -> None:
    resp = post_github(client, "star", examples["star"][0])
    assert resp.status_code == 202
    assert resp.json() == {"status": "ignored", "reason": "event 'star' is not handled"}
    assert store.queue_counts()["queued"] == 0


def test_a_repository_nobody_configured_is_ignored(
    client: TestClient, store: Store, examples: dict[str, Any]
) -> None:
    payload = copy.deepcopy(examples["issues"][0])
    payload["repository"]["full_name"] = "someone/else"
    resp = post_github(client, "issues", payload)
    assert resp.status_code == 202 and resp.json()["status"] == "ignored"
    assert store.queue_counts()["queued"] == 0


# ---------------------------------------------------------------- dedupe and coalescing


def test_a_redelivery_is_acknowledged_and_not_run_again(
    client: TestClient, settings: Settings, clock: Clock, examples: dict[str, Any]
) -> None:
    payload = examples["issues"][0]
    first = post_github(client, "issues", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    passes = FakePasses()
    worker = Worker(settings, pass_fn=passes, clock=clock)
    clock.now += 6
    assert [r.outcome for r in worker.run_until_idle()] == ["done"]
    again = post_github(client, "issues", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert again.status_code == 200
    assert again.json() == {
        "status": "duplicate",
        "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    clock.now += 60
    assert worker.run_until_idle() == []
    assert passes.calls == ["web"]
    worker.close()


def test_a_burst_of_deliveries_runs_one_pass(
    client: TestClient, settings: Settings, clock: Clock, examples: dict[str, Any]
) -> None:
    passes = FakePasses()
    worker = Worker(settings, pass_fn=passes, clock=clock)
    for i in range(200):
        clock.now += 0.01
        resp = post_github(client, "issues", examples["issues"][i % len(examples["issues"])])
        assert resp.status_code == 202
    assert worker.run_until_idle() == []  # still within the debounce window
    clock.now += 5
    runs = worker.run_until_idle()
    assert [(r.job.project, r.job.deliveries, r.outcome) for r in runs] == [("web", 200, "done")]
    assert passes.calls == ["web"]
    with Store.open(settings.store) as s:
        stats = s.delivery_stats("github")
    assert (stats.deliveries, stats.processed, stats.repeated) == (200, 200, 0)
    worker.close()


def test_debounce_is_capped_by_the_max_wait(
    client: TestClient, store: Store, clock: Clock, examples: dict[str, Any]
) -> None:
    start = clock.now
    for _ in range(40):  # one delivery a second for 40 s; debounce 5 s, max wait 20 s
        post_github(client, "issues", examples["issues"][0])
        clock.now += 1
    (job,) = store.list_jobs(["queued"])
    assert job.not_before == start + 20
    assert job.deliveries == 40


def test_a_delivery_during_a_pass_queues_one_more_pass(
    client: TestClient, settings: Settings, clock: Clock, examples: dict[str, Any]
) -> None:
    worker = Worker(settings, pass_fn=FakePasses(), clock=clock)
    seen: list[int] = []

    def pass_with_delivery(s: Settings, project: str, store: Store) -> PassResult:
        for _ in range(3):  # three deliveries arrive while the pass runs
            seen.append(post_github(client, "issues", examples["issues"][0]).status_code)
        return PassResult(project=project, ok=True)

    post_github(client, "issues", examples["issues"][0])
    clock.now += 5
    worker.pass_fn = pass_with_delivery
    assert [r.outcome for r in worker.run_until_idle()] == ["done"]
    assert seen == [202, 202, 202]
    clock.now += 5
    worker.pass_fn = FakePasses()
    (run,) = worker.run_until_idle()
    assert (run.outcome, run.job.deliveries) == ("done", 3)
    worker.close()


# ---------------------------------------------------------------------------- echoes


def test_our_bots_own_change_is_ignored(
    client: TestClient, store: Store, examples: dict[str, Any]
) -> None:
    payload = copy.deepcopy(examples["issues"][0])
    payload["sender"]["login"] = BOT
    resp = post_github(client, "issues", payload)
    assert resp.status_code == 202
    assert resp.json()["status"] == "own change ignored"
    assert store.queue_counts()["queued"] == 0


def _field_edit(examples: dict[str, Any], name: str, to: Any) -> Any:
    payload = copy.deepcopy(
        next(x for x in examples["projects_v2_item"] if x["action"] == "edited")
    )
    payload["changes"]["field_value"].update(
        field_name=name, field_type="date", project_number=1, **{"from": None, "to": to}
    )
    return payload


def test_a_board_field_set_to_the_value_we_wrote_is_our_echo(
    client: TestClient, store: Store, examples: dict[str, Any]
) -> None:
    store.record_written(
        "web",
        ChangeSet(
            fields=[
                FieldChange(
                    item="github:Codertocat/Hello-World#1",
                    field="early_finish",
                    old=None,
                    new="2026-03-06",
                )
            ]
        ),
    )
    ours = post_github(
        client, "projects_v2_item", _field_edit(examples, "Early finish", "2026-03-06")
    )
    assert ours.status_code == 202 and ours.json()["status"] == "own change ignored"
    person = post_github(
        client, "projects_v2_item", _field_edit(examples, "Early finish", "2026-04-01")
    )
    assert person.json()["status"] == "queued"
    estimate = post_github(client, "projects_v2_item", _field_edit(examples, "Estimate (h)", 8))
    assert estimate.json()["status"] == "queued"
    other_board = _field_edit(examples, "Early finish", "2026-04-01")
    other_board["changes"]["field_value"]["project_number"] = 2
    assert post_github(client, "projects_v2_item", other_board).json()["status"] == "ignored"


# ------------------------------------------------------------------------ bad requests


def test_a_bad_or_missing_signature_is_401(client: TestClient, examples: dict[str, Any]) -> None:
    payload = examples["issues"][0]
    wrong = post_github(client, "issues", payload, secret="not-the-secret")
    assert wrong.status_code == 401
    missing = post_github(client, "issues", payload, headers={"X-Hub-Signature-256": ""})
    assert missing.status_code == 401
    raw = json.dumps(payload).encode()
    tampered = post_github(
        client,
        "issues",
        None,
        body=raw + b" ",
        headers={"X-Hub-Signature-256": sign(GITHUB_SECRET.encode(), raw)},
    )
    assert tampered.status_code == 401
    assert "X-Hub-Signature-256" in tampered.json()["error"]


def test_malformed_json_is_400(client: TestClient) -> None:
    for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b""):
        resp = post_github(client, "issues", None, body=body)
        assert resp.status_code == 400, (body, resp.text)


def test_missing_event_or_delivery_headers_are_400(
    client: TestClient, examples: dict[str, Any]
) -> None:
    payload = examples["issues"][0]
    raw = json.dumps(payload).encode()
    signature = sign(GITHUB_SECRET.encode(), raw)
    no_event = client.post(
        "/hooks/github",
        content=raw,
        headers={"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "x"},
    )
    assert no_event.status_code == 400 and "X-GitHub-Event" in no_event.json()["error"]
    no_delivery = client.post(
        "/hooks/github",
        content=raw,
        headers={"X-Hub-Signature-256": signature, "X-GitHub-Event": "issues"},
    )
    assert no_delivery.status_code == 400 and "X-GitHub-Delivery" in no_delivery.json()["error"]


def test_a_body_over_the_limit_is_413(client: TestClient, store: Store) -> None:
    big = b'{"x": "' + b"a" * (64 * 1024) + b'"}'
    declared = post_github(client, "issues", None, body=big)
    assert declared.status_code == 413
    # no Content-Length (chunked): counted while reading
    chunks = [big[i : i + 4096] for i in range(0, len(big), 4096)]
    streamed = client.post(
        "/hooks/github",
        content=iter(chunks),
        headers={
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "big-2",
            "X-Hub-Signature-256": sign(GITHUB_SECRET.encode(), big),
        },
    )
    assert streamed.status_code == 413
    lying = client.post(
        "/hooks/github",
        content=b"{}",
        headers={"Content-Length": "999999999", "X-GitHub-Event": "issues"},
    )
    assert lying.status_code == 413
    assert store.queue_counts()["queued"] == 0


def test_wrong_methods_and_paths_are_client_errors(client: TestClient) -> None:
    assert client.get("/hooks/github").status_code == 405
    assert client.post("/hooks/gitlab", content=b"{}").status_code == 404


def test_an_endpoint_without_a_secret_refuses_with_503(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, examples: dict[str, Any]
) -> None:
    monkeypatch.delenv("TB_TEST_GITHUB_SECRET")
    monkeypatch.delenv("TB_TEST_REDMINE_SECRET")
    monkeypatch.delenv("TB_TEST_REDMINE_TOKEN")
    with TestClient(create_app(make_settings(tmp_path), clock=clock, check=all_ok)) as c:
        resp = post_github(c, "issues", examples["issues"][0])
        assert resp.status_code == 503 and "github_secret_env" in resp.json()["error"]
        assert post_plugin(c, plugin_issue_payload()).status_code == 503


def test_a_secret_file_is_read_and_never_echoed(
    tmp_path: Path, clock: Clock, examples: dict[str, Any]
) -> None:
    secret_file = tmp_path / "gh.secret"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    settings = make_settings(tmp_path, github_secret_file=str(secret_file))
    with TestClient(create_app(settings, clock=clock, check=all_ok)) as c:
        good = post_github(c, "issues", examples["issues"][0], secret="from-a-file")
        assert good.status_code == 202
        bad = post_github(c, "issues", examples["issues"][0])
        assert bad.status_code == 401 and "from-a-file" not in bad.text


def test_a_project_id_for_an_unknown_project_is_a_config_error(tmp_path: Path) -> None:
    from tracker_bridge.errors import ConfigError

    settings = make_settings(tmp_path, redmine_project_ids={"ordrs": 4})
    with pytest.raises(ConfigError, match=r"webhooks.redmine_project_ids: 'ordrs' is not a"):
        create_app(settings)


# ------------------------------------------------------------------------------ Redmine


def test_redmine7_signed_delivery_is_queued_by_numeric_project_id(
    client: TestClient, store: Store
) -> None:
    resp = post_redmine7(client, redmine7_issue_updated())
    assert resp.status_code == 202, resp.text
    assert list(resp.json()["jobs"]) == ["orders"]
    body = json.dumps(redmine7_issue_updated()).encode()
    assert resp.json()["delivery"] == "sha256:" + hashlib.sha256(body).hexdigest()
    again = post_redmine7(client, redmine7_issue_updated())
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    later = post_redmine7(client, redmine7_issue_updated(timestamp="2026-03-02T10:16:00Z"))
    assert later.status_code == 202 and later.json()["status"] == "queued"
    assert store.list_jobs(["queued"])[0].deliveries == 2


def test_redmine7_wrong_signature_is_401(client: TestClient) -> None:
    assert post_redmine7(client, redmine7_issue_updated(), secret="nope").status_code == 401


def test_redmine7_other_events(client: TestClient) -> None:
    version = {
        "type": "version.updated",
        "timestamp": "2026-03-02T10:15:00Z",
        "data": {
            "version": {
                "id": 3,
                "project": {"id": REDMINE_PROJECT_ID, "name": "O"},
                "name": "1.0",
                "due_date": "2026-04-01",
                "status": "open",
            }
        },
    }
    assert post_redmine7(client, version).json()["status"] == "queued"
    wiki = {
        "type": "wiki_page.updated",
        "timestamp": "2026-03-02T10:15:00Z",
        "data": {"wiki_page": {"title": "Plan", "text": "...", "version": 4}},
    }
    resp = post_redmine7(client, wiki)
    assert resp.status_code == 202 and resp.json()["status"] == "ignored"


def test_redmine7_echoes_by_bot_user_or_by_our_values(client: TestClient, store: Store) -> None:
    by_bot = post_redmine7(client, redmine7_issue_updated(user_id=99))
    assert by_bot.json()["status"] == "own change ignored"
    store.record_written(
        "orders",
        ChangeSet(
            fields=[
                FieldChange(item="redmine:42", field="early_finish", old=None, new="2026-03-06"),
                FieldChange(item="redmine:42", field="critical", old="0", new="1"),
            ]
        ),
    )
    ours: list[dict[str, Any]] = [
        {"property": "cf", "prop_key": "14", "old_value": "", "value": "2026-03-06"},
        {"property": "cf", "prop_key": "11", "old_value": "0", "value": "1"},
    ]
    echo = post_redmine7(client, redmine7_issue_updated(details=ours))
    assert echo.json()["status"] == "own change ignored"
    changed = [{"property": "cf", "prop_key": "14", "old_value": "", "value": "2026-05-01"}]
    person = post_redmine7(client, redmine7_issue_updated(details=changed, timestamp="x1"))
    assert person.json()["status"] == "queued"
    mixed: list[dict[str, Any]] = [
        *ours,
        {"property": "attr", "prop_key": "due_date", "old_value": None, "value": "x"},
    ]
    assert (
        post_redmine7(client, redmine7_issue_updated(details=mixed, timestamp="x2")).json()[
            "status"
        ]
        == "queued"
    )


def test_plugin_delivery_with_token(client: TestClient) -> None:
    resp = post_plugin(client, plugin_issue_payload())
    assert resp.status_code == 202 and list(resp.json()["jobs"]) == ["orders"]
    opened = post_plugin(client, plugin_issue_payload(action="opened"))
    assert opened.json()["status"] == "queued"
    assert post_plugin(client, plugin_issue_payload(), token="wrong").status_code == 401
    assert post_plugin(client, plugin_issue_payload(), token=None).status_code == 401
    other = post_plugin(client, plugin_issue_payload(identifier="not-ours", updated_on="y"))
    assert other.status_code == 202 and other.json()["status"] == "ignored"


def test_plugin_echo_by_bot_login(client: TestClient) -> None:
    resp = post_plugin(client, plugin_issue_payload(author="planbot"))
    assert resp.json()["status"] == "own change ignored"


def test_redmine_bodies_that_are_no_webhook_are_400(client: TestClient) -> None:
    assert post_plugin(client, {"hello": "world"}).status_code == 400
    raw = b"{broken"
    resp = client.post("/hooks/redmine?token=" + REDMINE_TOKEN, content=raw)
    assert resp.status_code == 400


def test_parse_redmine_reads_both_shapes() -> None:
    core = parse_redmine(redmine7_issue_updated())
    assert core is not None
    assert (core.sender, core.kind, core.action, core.project_id, core.issue_id) == (
        "core",
        "issue",
        "updated",
        REDMINE_PROJECT_ID,
        42,
    )
    assert core.custom_fields == {11: "Critical", 14: "Early finish"}
    plugin = parse_redmine(plugin_issue_payload())
    assert plugin is not None
    assert (plugin.sender, plugin.project_identifier, plugin.issue_id) == (
        "plugin",
        "order-management",
        42,
    )
    assert parse_redmine({"type": "issue.updated"}) is None


# ----------------------------------------------------------------------------- healthz


def test_healthz_runs_the_checks_and_caches_them(settings: Settings, clock: Clock) -> None:
    calls: list[str] = []
    verdict = {"ok": True}

    def check(s: Settings, project: str) -> list[Finding]:
        calls.append(project)
        return [
            Finding(id="redmine.auth.ok", ok=True, message="key accepted"),
            Finding(
                id="redmine.custom_field.missing",
                ok=verdict["ok"],
                message="'Total float (d)'",
                fix="create it",
            ),
        ]

    # the detail is served to loopback clients when no health token is configured
    app = create_app(settings, clock=clock, check=check)
    with TestClient(app, client=("127.0.0.1", 50000)) as c:
        first = c.get("/healthz")
        assert first.status_code == 200
        body = first.json()
        assert body["ok"] is True
        assert [f["id"] for f in body["projects"]["orders"]] == [
            "redmine.auth.ok",
            "redmine.custom_field.missing",
        ]
        assert body["queue"] == {"queued": 0, "running": 0, "done": 0, "dead": 0}
        verdict["ok"] = False
        assert c.get("/healthz").status_code == 200  # cached
        assert calls == ["web", "orders"]
        clock.now += 61
        second = c.get("/healthz")
        assert second.status_code == 503 and second.json()["ok"] is False
        assert calls == ["web", "orders", "web", "orders"]


def test_healthz_reports_a_config_error_with_a_stable_id(settings: Settings, clock: Clock) -> None:
    # the real check: no API key in the environment -> config.invalid, never a 500
    with TestClient(create_app(settings, clock=clock), client=("127.0.0.1", 50000)) as c:
        resp = c.get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["projects"]["web"][0]["id"] == "config.invalid"


# --------------------------------------------------------------------- worker and queue


def test_a_failing_pass_retries_with_backoff_then_goes_dead(
    client: TestClient, settings: Settings, clock: Clock, examples: dict[str, Any]
) -> None:
    passes = FakePasses(fail="redmine: 503 Service Unavailable")
    worker = Worker(settings, pass_fn=passes, clock=clock)
    post_github(client, "issues", examples["issues"][0])
    clock.now += 5
    outcomes = []
    for wait in (0, 10, 20):  # backoff 10 s, doubling
        clock.now += wait
        assert worker.run_until_idle(max_jobs=1) != [] or pytest.fail(f"nothing due after {wait}")
        outcomes.append(passes.calls[-1])
    assert len(passes.calls) == 3
    with Store.open(settings.store) as s:
        (dead,) = s.list_jobs(["dead"])
        assert dead.attempts == 3 and dead.last_error == "redmine: 503 Service Unavailable"
        # an early retry is not due yet: nothing ran between the backoffs
        new_id = s.retry_job(dead.id, now=clock.now)
        assert new_id == dead.id
    passes.fail = None
    (run,) = worker.run_until_idle()
    assert run.outcome == "done"
    worker.close()


def test_a_killed_workers_job_is_claimed_again_after_its_lease(
    settings: Settings, clock: Clock
) -> None:
    with Store.open(settings.store) as s:
        job_id = s.enqueue("web", now=clock.now)
        claimed = s.claim_job("dead-worker", now=clock.now, lease_seconds=60, max_attempts=3)
        assert claimed is not None and claimed.id == job_id
        assert s.claim_job("other", now=clock.now + 30, lease_seconds=60, max_attempts=3) is None
        again = s.claim_job("other", now=clock.now + 61, lease_seconds=60, max_attempts=3)
        assert again is not None and (again.id, again.attempts) == (job_id, 2)
        # the first owner comes back: its result is refused
        assert not s.complete_job(job_id, "dead-worker", now=clock.now + 62)
        assert s.complete_job(job_id, "other", now=clock.now + 62)


def test_a_job_whose_worker_keeps_dying_goes_dead(settings: Settings, clock: Clock) -> None:
    with Store.open(settings.store) as s:
        job_id = s.enqueue("web", now=clock.now)
        t = clock.now
        for _ in range(3):
            assert s.claim_job("w", now=t, lease_seconds=10, max_attempts=3) is not None
            t += 11
        assert s.claim_job("w", now=t, lease_seconds=10, max_attempts=3) is None
        job = s.get_job(job_id)
        assert job is not None and job.state == "dead"
        assert "lease expired" in (job.last_error or "")


def test_the_worker_leaves_a_locked_project_for_later(settings: Settings, clock: Clock) -> None:
    passes = FakePasses()
    worker = Worker(settings, pass_fn=passes, clock=clock)
    with Store.open(settings.store) as s:
        s.enqueue("web", now=clock.now)
    with project_lock(settings.store, "web"):
        (run,) = worker.run_until_idle(max_jobs=1)
    assert run.outcome == "busy" and passes.calls == []
    assert "being planned by another run" in (run.error or "")
    clock.now += 5
    (run,) = worker.run_until_idle()
    assert run.outcome == "done" and run.job.attempts == 1
    worker.close()


def test_the_worker_thread_stops(settings: Settings) -> None:
    worker = Worker(settings, pass_fn=FakePasses())
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.05))
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_store_status_shows_the_queue_and_the_workers_seen(
    settings: Settings, clock: Clock
) -> None:
    worker = Worker(settings, pass_fn=FakePasses(), clock=clock, name="host-a:42")
    with Store.open(settings.store) as s:
        s.enqueue("web", now=clock.now - 30)
        s.enqueue("orders", now=clock.now, debounce_seconds=60, max_wait_seconds=60)
        (run,) = worker.run_until_idle()
        worker._heartbeat()
        status = s.status(now=clock.now + 5)
        assert run.job.project == "web"
        assert status.counts == {"queued": 1, "running": 0, "done": 1, "dead": 0}
        assert status.due == 0 and status.oldest_queued_age == 5.0
        assert [(w.name, w.jobs_done) for w in status.workers] == [("host-a:42", 1)]
        assert s.status(now=clock.now + 400).workers == []  # not seen for five minutes
    worker.close()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "tb.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n\n'
        '[trackers.rm]\nkind = "redmine"\nurl = "https://redmine.example"\n'
        'api_key_env = "TB_TEST_RM_KEY"\n\n'
        '[projects.orders]\ntracker = "rm"\nproject = "order-management"\n',
        encoding="utf-8",
    )
    return path


def test_queue_commands_list_retry_and_drop(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Store.open(tmp_path / "state.sqlite3") as s:
        now = time.time()
        s.enqueue("orders", now=now)
        job = s.claim_job("w", now=now, lease_seconds=60, max_attempts=1)
        assert job is not None
        s.fail_job(job.id, "w", "boom: 401", now=now, max_attempts=1, backoff_seconds=1)
        waiting = s.enqueue("orders", now=now + 1, debounce_seconds=300, max_wait_seconds=300)
    runner = CliRunner()
    listed = runner.invoke(main, ["queue", "list", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert data["counts"]["dead"] == 1 and data["counts"]["queued"] == 1
    assert {j["state"] for j in data["jobs"]} == {"dead", "queued"}
    dead = next(j for j in data["jobs"] if j["state"] == "dead")
    assert dead["last_error"] == "boom: 401"
    table = runner.invoke(main, ["queue", "list", "--config", str(config)])
    assert "boom: 401" in table.output
    retried = runner.invoke(main, ["queue", "retry", str(job.id), "--config", str(config)])
    assert retried.exit_code == 0, retried.output
    assert f"joined job {waiting}" in retried.output  # one waiting job per project
    dropped = runner.invoke(main, ["queue", "drop", str(waiting), "--config", str(config)])
    assert dropped.exit_code == 0 and "Dropped job" in dropped.output
    missing = runner.invoke(main, ["queue", "drop", "999", "--config", str(config)])
    assert missing.exit_code == 1 and "no job 999" in missing.output


# -------------------------------------------------------------------- cron-safe `run`


def test_run_refuses_a_project_another_run_holds(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with project_lock(tmp_path / "state.sqlite3", "orders"):
        result = CliRunner().invoke(main, ["run", "--config", str(config), "--quiet"])
    assert result.exit_code == 1
    import os

    assert (
        f"project orders is being planned by another run (pid {os.getpid()}); try again later"
        in result.output
    )


def test_run_waits_for_the_other_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    ran: list[str] = []

    def fake_pass(settings: Settings, name: str, **kwargs: Any) -> PassResult:
        ran.append(name)
        assert kwargs["store"] is not None
        return PassResult(project=name, error="stopped here on purpose")

    monkeypatch.setattr("tracker_bridge.units.run_pass", fake_pass)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with project_lock(tmp_path / "state.sqlite3", "orders"):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--wait", "5", "--quiet"])
    holder.join()
    assert ran == ["orders"], result.output
    assert "stopped here on purpose" in result.output


def test_run_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for line in ("0  every project done", "1  some project failed", "2  wrong usage", "--wait"):
        assert line in result.output


def test_run_pass_records_what_it_wrote(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    change = FieldChange(item="redmine:42", field="early_finish", old=None, new="2026-03-06")

    class FakeAdapter:
        requests_made = 0
        supports_incremental = False
        page_style = PlainStyle()

        def fetch(self, **_: object) -> FetchResult:
            return FetchResult(
                Snapshot(
                    project=Project(name="orders", start="2026-03-02"),  # type: ignore[arg-type]
                    items=[WorkItem(key="redmine:42", estimate_hours=8)],
                )
            )

        def close(self) -> None:
            pass

        def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
            return ChangeSet(fields=[change])

        def apply(self, changes: ChangeSet) -> ApplyReport:
            return ApplyReport(issues_updated=1, fields_written=1)

    monkeypatch.setattr(pipeline, "open_adapter", lambda *a, **k: FakeAdapter())
    import datetime as dt

    with Store.open(settings.store) as s:
        result = run_pass(settings, "orders", as_of=dt.date(2026, 3, 2), store=s)
        assert result.ok, result.error
        assert s.written_value("orders", "redmine:42", "early_finish") == "2026-03-06"
        dry = run_pass(settings, "orders", as_of=dt.date(2026, 3, 2), dry_run=True, store=s)
        assert dry.ok


# ----------------------------------------------------------------------- store pieces


def test_snapshot_cache_and_cursors_round_trip(store: Store) -> None:
    assert store.get_cursor("orders") is None
    store.set_cursor("orders", "2026-03-02T10:00:00Z")
    store.set_cursor("orders", "2026-03-02T11:00:00Z")
    assert store.get_cursor("orders") == "2026-03-02T11:00:00Z"
    assert store.get_cursor("orders", "time_entries") is None
    assert store.load_snapshot_cache("orders") is None
    snap = Snapshot(
        project=Project(name="orders", start="2026-03-02"),  # type: ignore[arg-type]
        items=[WorkItem(key="redmine:1", title="A", estimate_hours=4)],
    )
    store.save_snapshot_cache("orders", snap)
    assert store.load_snapshot_cache("orders") == snap


# ----------------------------------------------------------- PostgreSQL restarting


def test_a_database_restart_loses_no_acknowledged_delivery(
    tmp_path: Path,
    pg_url: str,
    postgres_server: LocalPostgres,
    clock: Clock,
    examples: dict[str, Any],
) -> None:
    """The server and the worker reconnect by themselves; what got a 202 is in the store
    and is run."""
    settings = make_settings(tmp_path, store={"url": pg_url}, debounce_seconds=0)
    passes = FakePasses()
    worker = Worker(settings, pass_fn=passes, clock=clock)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.05))
    acknowledged = []
    with TestClient(create_app(settings, clock=clock, check=all_ok)) as client:
        thread.start()
        try:
            for repository in ("first", "second"):
                payload = copy.deepcopy(examples["issues"][0])
                answer = post_github(client, "issues", payload, delivery=f"{repository}-1")
                assert answer.status_code == 202, answer.text
                acknowledged.append(answer.json()["delivery"])
                deadline = time.monotonic() + 30
                while len(passes.calls) < len(acknowledged) and time.monotonic() < deadline:
                    time.sleep(0.05)
                postgres_server.restart()  # the connections of app and worker die
        finally:
            stop.set()
            thread.join(timeout=60)
    assert len(passes.calls) == 2
    with Store.open(settings.store) as s:
        assert all(s.has_delivery("github", d) for d in acknowledged)
        stats = s.delivery_stats()
        assert (stats.deliveries, stats.processed, stats.repeated) == (2, 2, 0)
