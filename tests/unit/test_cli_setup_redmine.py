"""``tracker-bridge setup redmine``: the packaged custom-field script, printed or run.

Running it for real is in tests/integration/test_quiet_writeback.py (against a local
Redmine); here: what is printed, and how the command switches user on hosts without sudo.
"""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker_bridge import errors
from tracker_bridge.adapters.redmine import kit
from tracker_bridge.adapters.redmine.fields import EXPECTED_FORMATS
from tracker_bridge.cli import main


def test_print_gives_the_packaged_script_with_the_configs_names_and_roles(tmp_path: Path) -> None:
    config = tmp_path / "tb.toml"
    config.write_text('[fields]\nlate_finish = "Spätestes Ende"\nslip_days = 17\n')
    result = CliRunner().invoke(
        main,
        ["setup", "redmine", "--print", "--visible-to", "Plan bot, Planner", "--config", config],
    )
    assert result.exit_code == 0, result.output
    script = result.stdout
    assert script.startswith("# Creates (or updates) the issue custom fields")
    assert "  ['Spätestes Ende', 'date'],\n" in script
    assert "'Late finish'" not in script
    assert "'Slip (d)'" not in script  # configured by id: the field exists already
    assert "VISIBLE_TO = ['Plan bot', 'Planner']\n" in script
    # every field we write is in it, with its format, except the one named by id
    for logical, field_format in EXPECTED_FORMATS.items():
        if logical not in ("late_finish", "slip_days"):
            assert f", '{field_format}'],\n" in script
    assert "fields.slip_days names a field by id" in result.stderr
    assert "runuser -u www-data" in result.stderr  # the way without sudo


def test_print_is_the_default_away_from_the_redmine_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kit, "REDMINE_DIRS", (tmp_path / "nothing-here",))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["setup", "redmine"])
    assert result.exit_code == 0, result.output
    assert "VISIBLE_TO = []\n" in result.stdout
    assert "  ['Critical', 'bool'],\n" in result.stdout


def test_a_wrong_redmine_dir_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["setup", "redmine", "--redmine-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a Redmine directory" in result.stderr


def _host(monkeypatch: pytest.MonkeyPatch, *, root: bool, tools: set[str]) -> None:
    monkeypatch.setattr(kit.os, "geteuid", lambda: 0 if root else 4242)
    monkeypatch.setattr(
        kit.pwd, "getpwuid", lambda uid: pwd.struct_passwd(("me", "x", uid, uid, "", "/", "/"))
    )
    monkeypatch.setattr(
        kit.shutil, "which", lambda name: f"/usr/bin/{name}" if name in tools else None
    )


SCRIPT = Path("/tmp/x/create_custom_fields.rb")
RAILS = ["env", "RAILS_ENV=production", "bin/rails", "runner", "-e", "production", str(SCRIPT)]


def test_runs_directly_as_the_current_user(monkeypatch: pytest.MonkeyPatch) -> None:
    _host(monkeypatch, root=False, tools=set())
    assert kit.runner_command(Path("/r"), SCRIPT, "me").argv == RAILS


def test_sudo_when_there_is_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    _host(monkeypatch, root=True, tools={"sudo", "runuser", "su"})
    assert kit.runner_command(Path("/r"), SCRIPT, "www-data").argv == [
        "sudo",
        "-u",
        "www-data",
        *RAILS,
    ]


def test_root_without_sudo_uses_runuser_then_su(monkeypatch: pytest.MonkeyPatch) -> None:
    _host(monkeypatch, root=True, tools={"runuser", "su"})
    assert kit.runner_command(Path("/r"), SCRIPT, "www-data").argv == [
        "runuser",
        "-u",
        "www-data",
        "--",
        *RAILS,
    ]
    _host(monkeypatch, root=True, tools={"su"})
    command = kit.runner_command(Path("/r"), SCRIPT, "www-data")
    assert command.argv[:5] == ["su", "-s", "/bin/sh", "www-data", "-c"]
    assert command.argv[5] == " ".join(RAILS)


def test_no_way_to_switch_user_says_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    _host(monkeypatch, root=False, tools={"su"})
    with pytest.raises(errors.ConfigError) as caught:
        kit.runner_command(Path("/r"), SCRIPT, "www-data")
    message = str(caught.value)
    assert "no sudo here, and not root" in message
    assert "cd /r && env RAILS_ENV=production bin/rails runner" in message


def test_the_web_servers_user_owns_the_files_directory(tmp_path: Path) -> None:
    (tmp_path / "instances" / "default" / "files").mkdir(parents=True)
    owner = pwd.getpwuid((tmp_path / "instances" / "default" / "files").stat().st_uid).pw_name
    assert kit.web_user(tmp_path) == owner
