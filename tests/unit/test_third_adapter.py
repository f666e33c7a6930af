"""A third adapter, installed as a plugin is (an entry point), runs ``run`` and ``doctor``
end to end with no edit to the core: the adapter protocol is all the core needs."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main
from tracker_bridge.settings import settings_from_dict

TESTS = Path(__file__).resolve().parents[1]
SNAPSHOT = {
    "project": {"name": "files", "start": "2027-03-01"},
    "items": [
        {"key": "file:1", "title": "Design", "estimate_hours": 16},
        {"key": "file:2", "title": "Build", "estimate_hours": 24},
    ],
    "dependencies": [{"predecessor": "file:1", "successor": "file:2"}],
}


@pytest.fixture
def file_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install ``plugins.file_tracker`` under the kind ``file``, as pip would."""
    site = tmp_path / "site"
    dist = site / "tracker_bridge_file-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tracker-bridge-file\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[tracker_bridge.adapters]\nfile = plugins.file_tracker:FileTracker\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("TRACKER_BRIDGE_FILES_KEY", "unused")


def _config(tmp_path: Path, project_dir: Path) -> Path:
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(
        f"""
[store]
path = "{tmp_path / "state.sqlite3"}"

[trackers.files]
kind = "file"

[projects.shop]
tracker = "files"
project = "{project_dir}"
"""
    )
    return config


def test_a_kind_that_is_not_installed_is_a_config_error() -> None:
    with pytest.raises(Exception, match=r"trackers\.x\.kind <- no adapter for tracker kind 'file'"):
        settings_from_dict({"trackers": {"x": {"kind": "file"}}})


def test_a_plugin_adapter_runs_doctor_and_run(file_plugin: None, tmp_path: Path) -> None:
    project_dir = tmp_path / "shop"
    project_dir.mkdir()
    config = _config(tmp_path, project_dir)
    runner = CliRunner()

    doctor = runner.invoke(main, ["doctor", "--config", str(config), "--json"])
    assert doctor.exit_code == 1, doctor.output  # no snapshot yet: the plugin's own finding
    assert json.loads(doctor.output)["shop"][0]["id"] == "file.snapshot.missing"

    (project_dir / "snapshot.json").write_text(json.dumps(SNAPSHOT))
    doctor = runner.invoke(main, ["doctor", "--config", str(config), "--json"])
    assert doctor.exit_code == 0, doctor.output

    args = ["run", "--config", str(config), "--as-of", "2027-03-01", "--quiet"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    written = json.loads((project_dir / "fields.json").read_text())
    # Design Mon 1 - Tue 2, Build Wed 3 - Fri 5: both critical
    assert written["file:2"]["early_start"] == "2027-03-03"
    assert written["file:2"]["early_finish"] == "2027-03-05"
    assert written["file:1"]["critical"] == "Yes"
    page = (project_dir / "pages" / "Plan.md").read_text()
    assert "Schedule of files" in page and "file:1" in page

    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "no changes" in second.output


def test_a_plugin_webhook_queues_a_pass_the_worker_runs(
    file_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from tracker_bridge.settings import load_settings
    from tracker_bridge.webhook import create_app
    from tracker_bridge.worker import Worker, default_pass

    monkeypatch.setenv("FILE_TRACKER_WEBHOOK_TOKEN", "s3cret")
    project_dir = tmp_path / "shop"
    project_dir.mkdir()
    (project_dir / "snapshot.json").write_text(json.dumps(SNAPSHOT))
    settings = load_settings(_config(tmp_path, project_dir))
    body = json.dumps({"id": "d-1", "project": str(project_dir)})
    with TestClient(create_app(settings)) as client:
        assert client.post("/hooks/file?token=nope", content=body).status_code == 401
        answer = client.post("/hooks/file?token=s3cret", content=body)
        assert answer.status_code == 202 and answer.json()["status"] == "queued"
        again = client.post("/hooks/file?token=s3cret", content=body)
        assert again.json()["status"] == "duplicate"
    as_of = dt.date(2027, 3, 1)
    worker = Worker(
        settings,
        pass_fn=lambda s, p, st: default_pass(s, p, st, as_of=as_of),
        clock=lambda: time.time() + 3600,  # past the debounce delay
    )
    runs = worker.run_until_idle()
    worker.close()
    assert [(run.job.project, run.outcome) for run in runs] == [("shop", "done")]
    written = json.loads((project_dir / "fields.json").read_text())
    assert written["file:2"]["early_start"] == "2027-03-03"
