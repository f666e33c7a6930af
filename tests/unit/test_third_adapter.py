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


def _config(tmp_path: Path, project_dir: Path, options: str = "") -> Path:
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(
        f"""
[store]
path = "{tmp_path / "state.sqlite3"}"

[webhooks]
file_token_env = "TB_FILE_TOKEN"

[trackers.files]
kind = "file"

[projects.shop]
tracker = "files"
project = "{project_dir}"

[projects.shop.file]
{options}
"""
    )
    return config


def test_a_kind_that_is_not_installed_is_a_config_error() -> None:
    with pytest.raises(Exception, match=r"trackers\.x\.kind <- no adapter for tracker kind 'file'"):
        settings_from_dict({"trackers": {"x": {"kind": "file"}}})


def test_a_plugin_adapter_runs_doctor_and_run(file_plugin: None, tmp_path: Path) -> None:
    project_dir = tmp_path / "shop"
    project_dir.mkdir()
    config = _config(tmp_path, project_dir, 'pages = "plan-pages"')
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
    page = (project_dir / "plan-pages" / "Plan.md").read_text()  # its own option
    assert "Schedule of files" in page and "file:1" in page

    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "no changes" in second.output


def test_the_plugin_validates_its_own_options(file_plugin: None, tmp_path: Path) -> None:
    """Bad options of the plugin's sections: one line each, naming the file and the key."""
    config = _config(tmp_path, tmp_path, 'pages = "../x"\npgaes = "y"')
    config.write_text(config.read_text().replace("file_token_env", "file_tokn_env"))
    result = CliRunner().invoke(main, ["doctor", "--config", str(config)])
    assert result.exit_code != 0
    assert f"{config}: projects.shop.file.pages <- String should match pattern" in result.output
    assert f"{config}: projects.shop.file.pgaes <- unknown key" in result.output
    assert f"{config}: webhooks.file_tokn_env <- unknown key" in result.output


def test_the_config_schema_shows_the_plugin_sections(file_plugin: None) -> None:
    schema = json.loads(CliRunner().invoke(main, ["schema", "config"]).output)
    project = schema["$defs"]["ProjectSettings"]["properties"]
    assert project["file"]["$ref"] == "#/$defs/FileOptions"
    assert schema["$defs"]["FileOptions"]["properties"]["pages"]["default"] == "pages"
    assert "file_token_env" in schema["$defs"]["WebhookSettings"]["properties"]
    assert (
        "github" in project
        and "redmine_token_env" in schema["$defs"]["WebhookSettings"]["properties"]
    )


def test_setup_lists_the_adapters_that_bring_a_set_up_command(file_plugin: None) -> None:
    listed = CliRunner().invoke(main, ["setup", "--help"]).output
    assert "github" in listed and "redmine" in listed
    assert "file" not in listed.split("Commands:")[1]  # the plugin needs no set-up
    assert CliRunner().invoke(main, ["setup", "file"]).exit_code == 2  # no such command


def test_a_plugin_webhook_queues_a_pass_the_worker_runs(
    file_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from tracker_bridge.settings import load_settings
    from tracker_bridge.webhook import create_app
    from tracker_bridge.worker import Worker, default_pass

    monkeypatch.setenv("TB_FILE_TOKEN", "s3cret")  # named by its own [webhooks] key
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
