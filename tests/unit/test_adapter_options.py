"""Sections an adapter owns (``[projects.NAME.<kind>]``, ``[webhooks] <kind>_*``): validated
with the adapter's model, found through the registry, and kept in the settings' dumps."""

from __future__ import annotations

from typing import Any

import pytest

from tracker_bridge.adapters.github.settings import GitHubSettings
from tracker_bridge.adapters.redmine.settings import RedmineWebhookSettings
from tracker_bridge.errors import ConfigError
from tracker_bridge.pipeline import fetch_config_digest
from tracker_bridge.settings import ProjectSettings, Settings, settings_from_dict


def config(project: dict[str, Any], webhooks: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "trackers": {"gh": {"kind": "github"}, "rm": {"kind": "redmine"}},
        "projects": {"web": {"tracker": "gh", "project": "acme/web", **project}},
        "webhooks": webhooks or {},
    }


def test_the_adapter_reads_back_its_options_by_their_model() -> None:
    settings = settings_from_dict(
        config({"github": {"repositories": ["acme/web", "acme/api"]}}, {"redmine_token_env": "T"})
    )
    options = settings.projects["web"].options(GitHubSettings)
    assert options is not None and options.repositories == ["acme/web", "acme/api"]
    assert settings.projects["web"].options(RedmineWebhookSettings) is None
    hooks = settings.webhooks.options(RedmineWebhookSettings)
    assert hooks is not None and hooks.redmine_token_env == "T"
    built = ProjectSettings(tracker="gh", project="p", github=GitHubSettings(project_v2="org:a/1"))
    assert built.options(GitHubSettings) == GitHubSettings(project_v2="org:a/1")


def test_core_and_adapter_errors_are_one_line_each_with_their_key() -> None:
    data = config({"wiki_pag": "P", "github": {"repositories": ["web"], "boards": 1}})
    data["webhooks"] = {"redmine_project_ids": {"web": "four"}, "githb_secret_env": "X"}
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data, "tb.toml")
    lines = str(caught.value).splitlines()
    assert lines == [
        "tb.toml: projects.web.wiki_pag <- unknown key (check the spelling; see the annotated "
        "examples in config/)",
        "tb.toml: projects.web.github.repositories <- repositories must be 'owner/repo' names, "
        "got ['web']",
        "tb.toml: projects.web.github.boards <- unknown key (check the spelling; see the "
        "annotated examples in config/)",
        "tb.toml: webhooks.githb_secret_env <- unknown key (check the spelling; see the "
        "annotated examples in config/)",
        "tb.toml: webhooks.redmine_project_ids.web <- Input should be a valid integer, unable "
        "to parse string as an integer",
    ]


def test_an_adapter_without_project_options_says_so() -> None:
    with pytest.raises(ConfigError, match=r"projects\.web\.redmine <- the 'redmine' adapter"):
        settings_from_dict(config({"redmine": {"x": 1}}))


def test_secrets_stay_out_of_an_adapter_section() -> None:
    with pytest.raises(ConfigError, match=r"projects\.web\.github <- 'token' must not be written"):
        settings_from_dict(config({"github": {"token": "ghp_x"}}))


def test_the_fetch_digest_follows_the_adapter_options() -> None:
    """A changed repository list makes the next fetch a full one (the cache is not reused)."""

    def digest(repositories: list[str]) -> str:
        settings: Settings = settings_from_dict(config({"github": {"repositories": repositories}}))
        return fetch_config_digest(settings, "web")

    assert digest(["acme/web"]) == digest(["acme/web"])
    assert digest(["acme/web"]) != digest(["acme/web", "acme/api"])


def test_options_for_another_kind_of_tracker_are_an_error_not_ignored() -> None:
    data = config({"github": {"repositories": ["acme/web"]}})
    data["projects"]["web"]["tracker"] = "rm"
    with pytest.raises(ConfigError, match=r"projects\.web\.github: the project is on tracker 'rm'"):
        settings_from_dict(data)
