"""The Projects (v2) board over GraphQL: read it, resolve our fields, diff and write their
values, and create missing fields (``setup github``).

PyGithub has no Projects (v2) support: the documents of :mod:`.queries` go through
:meth:`GitHubClient.graphql`. ``updateProjectV2ItemFieldValue`` cannot add an issue to a
board: ``addProjectV2ItemById`` comes first (it returns the existing item when the issue is
already there). Values are compared and written as the board shows them
(:func:`.board.format_field_value`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tracker_bridge import errors
from tracker_bridge.adapters.github import queries
from tracker_bridge.adapters.github.board import (
    Board,
    ProjectField,
    format_field_value,
    number_text,
    values_equal,
)
from tracker_bridge.adapters.github.client import GitHubClient
from tracker_bridge.adapters.github.context import Context
from tracker_bridge.model import ApplyReport, DesiredState, FieldChange, Snapshot
from tracker_bridge.plan_fields import PLAN_FIELDS

__all__ = ["CRITICAL_OPTIONS", "FIELD_TYPES", "SETUP_DOC", "Projects"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter

#: Projects field type we create (``setup github``) and expect, per logical field.
#: The board field type of each logical field (Critical is a Yes/No single select).
FIELD_TYPES: dict[str, str] = {
    f.name: {"bool": "SINGLE_SELECT", "date": "DATE"}.get(f.kind, "NUMBER") for f in PLAN_FIELDS
}
CRITICAL_OPTIONS = (("Yes", "RED"), ("No", "GRAY"))
SETUP_DOC = "config/github.toml"


class Projects:
    """The board of one project (``project_v2``): read, resolve fields, diff, write, set up.

    Keeps the board last read (:attr:`board`), the GraphQL node ids of our issues
    (:attr:`node_ids`, filled by fetch: ``addProjectV2ItemById`` needs them) and the issues
    the last ``apply`` added to the board (:attr:`items_added`).
    """

    def __init__(self, ctx: Context, client: GitHubClient) -> None:
        self._ctx = ctx
        self._client = client
        self.board: Board | None = None
        self.node_ids: dict[str, str] = {}
        self.items_added: list[str] = []

    def label(self) -> str:
        """The board as configured (``org:acme/7``), for messages."""
        return str(self._ctx.settings.project_v2)

    def _owner(self) -> tuple[str, str, int]:
        owner = self._ctx.settings.project_owner()
        if owner is None:
            raise errors.ConfigError(
                f"projects: '{self._ctx.name}' has no [projects.NAME.github] project_v2 board "
                '(e.g. project_v2 = "org:acme/7")'
            )
        return owner

    # ------------------------------------------------------------------ read

    def load(self, *, with_items: bool) -> Board:
        """Read the board's ids and fields (and, ``with_items``, every item and its values)."""
        kind, login, number = self._owner()
        label = self.label()
        url = (
            f"{self._ctx.web_base}/{'orgs' if kind == 'org' else 'users'}/{login}/projects/{number}"
        )
        missing = (
            f"Projects board {label} not found ({url}): check project_v2, and that the "
            "token may read it (classic token: 'read:project' or 'project' scope; "
            "fine-grained token or app: the organisation's Projects permission)"
        )
        data = self._client.graphql(
            queries.project_query(kind),
            {"login": login, "number": number, "withItems": with_items},
            what=f"Projects board {label}",
            not_found=missing,
        )
        project = (data.get("owner") or {}).get("projectV2")
        if not isinstance(project, dict):
            raise errors.NotFoundError(missing, method="POST", path="/graphql", status=200)
        fields: dict[str, ProjectField] = {}
        for node in (project.get("fields") or {}).get("nodes") or []:
            if not isinstance(node, dict) or not node.get("id"):
                continue
            options = {
                str(o["name"]).strip().casefold(): (str(o["id"]), str(o["name"]))
                for o in node.get("options") or []
                if isinstance(o, dict)
            }
            f = ProjectField(
                id=str(node["id"]),
                name=str(node.get("name") or ""),
                data_type=str(node.get("dataType") or ""),
                options=options,
            )
            fields.setdefault(f.name.strip().casefold(), f)
        board = Board(
            id=str(project["id"]),
            title=str(project.get("title") or label),
            url=str(project.get("url") or url),
            fields=fields,
        )
        if with_items:
            page = project.get("items") or {}
            while True:
                self._read_items(board, page)
                info = page.get("pageInfo") or {}
                if not info.get("hasNextPage"):
                    break
                data = self._client.graphql(
                    queries.ITEMS_QUERY,
                    {"project": board.id, "after": info.get("endCursor")},
                    what=f"items of Projects board {label}",
                )
                page = ((data.get("node") or {}).get("items")) or {}
            board.items_read = True
            if board.foreign_items:
                log.info(
                    "github %s: %d board items are not issues of the configured "
                    "repositories; ignored",
                    self._ctx.name,
                    board.foreign_items,
                )
        self.board = board
        return board

    def _read_items(self, board: Board, page: dict[str, Any]) -> None:
        for node in page.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            content = node.get("content") or {}
            repo = (content.get("repository") or {}).get("nameWithOwner")
            if (
                content.get("__typename") != "Issue"
                or not repo
                or not self._ctx.keys.configured(str(repo))
            ):
                board.foreign_items += 1
                continue
            key = self._ctx.keys.key(str(repo), int(content["number"]))
            board.items[key] = str(node["id"])
            if content.get("id"):
                self.node_ids.setdefault(key, str(content["id"]))
            values: dict[str, str] = {}
            for value in (node.get("fieldValues") or {}).get("nodes") or []:
                if not isinstance(value, dict):
                    continue
                field_id = (value.get("field") or {}).get("id")
                if not field_id:
                    continue
                kind = value.get("__typename")
                if kind == "ProjectV2ItemFieldDateValue" and value.get("date"):
                    values[str(field_id)] = str(value["date"])[:10]
                elif kind == "ProjectV2ItemFieldNumberValue" and value.get("number") is not None:
                    values[str(field_id)] = number_text(float(value["number"]))
                elif kind == "ProjectV2ItemFieldSingleSelectValue" and value.get("name"):
                    values[str(field_id)] = str(value["name"])
                elif kind == "ProjectV2ItemFieldTextValue" and value.get("text") is not None:
                    values[str(field_id)] = str(value["text"])
            board.values[key] = values

    # ------------------------------------------------------------------ fields

    def resolve_fields(self, board: Board) -> tuple[dict[str, ProjectField], dict[str, str]]:
        """Logical field -> board field, and logical field -> name of those the board lacks."""
        found: dict[str, ProjectField] = {}
        missing: dict[str, str] = {}
        for logical in self._ctx.field_names.logical_names():
            name = str(getattr(self._ctx.field_names, logical))
            target = board.field(name)
            if target is None:
                missing[logical] = name
            else:
                found[logical] = target
        return found, missing

    def _missing_field_error(self, logical: str, name: str) -> errors.ConfigError:
        return errors.ConfigError(
            f"Projects board {self.label()} has no field '{name}' (fields.{logical}): "
            f"run `tracker-bridge setup github --project <name>` to create it (type "
            f"{FIELD_TYPES.get(logical, 'NUMBER')}), or set fields.{logical} to the name the "
            "field has on the board"
        )

    def _option(self, target: ProjectField, name: str) -> str:
        option = target.options.get(name.strip().casefold())
        if option is None:
            known = ", ".join(repr(n) for _, n in target.options.values()) or "none"
            raise errors.ConfigError(
                f"single-select field '{target.name}' of Projects board {self.label()} "
                f"has no option '{name}' (options: {known}); add it in the board's field "
                "settings"
            )
        return option[0]

    def _field_input(self, target: ProjectField, text: str) -> dict[str, Any]:
        if target.data_type == "DATE":
            return {"date": text[:10]}
        if target.data_type == "NUMBER":
            return {"number": float(text)}
        if target.data_type == "SINGLE_SELECT":
            return {"singleSelectOptionId": self._option(target, text)}
        if target.data_type == "TEXT":
            return {"text": text}
        raise errors.ConfigError(
            f"Projects field '{target.name}' has type {target.data_type}; tracker-bridge writes "
            "DATE, NUMBER, SINGLE_SELECT or TEXT fields"
        )

    # ------------------------------------------------------------------ diff and apply

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> list[FieldChange]:
        """The field changes of :meth:`GitHubAdapter.diff` (a board is configured)."""
        board = self.board or self.load(with_items=False)
        found, missing = self.resolve_fields(board)
        required = set(self._ctx.field_names.required())
        skipped = sorted(logical for logical in missing if logical not in required)
        if skipped:  # overlay fields are optional: a board without them still gets the rest
            self._ctx.notes.add(
                f"board has no field for {', '.join(skipped)}; those values are skipped"
            )
        items = snapshot.item_map()
        changes: list[FieldChange] = []
        not_on_board = 0
        for key, values in desired.fields.items():
            item = items.get(key)
            if item is None:
                self._ctx.notes.add(
                    f"desired values for {key}, which is not in the snapshot; skipped"
                )
                continue
            on_board = any(logical in item.fields for logical in found)
            if not on_board:
                not_on_board += 1
            for logical, value in values.items():
                if logical in missing and logical in required:
                    raise self._missing_field_error(logical, missing[logical])
                target = found.get(logical)
                if target is None:
                    continue
                new = format_field_value(value, target.data_type)
                if target.data_type == "SINGLE_SELECT" and new:
                    self._option(target, new)  # raises when the option is missing
                old = item.fields.get(logical) if on_board else None
                if not values_equal(old, new):
                    changes.append(FieldChange(item=key, field=logical, old=old, new=new))
        if not_on_board:
            self._ctx.notes.add(
                f"{not_on_board} issue(s) are not on the Projects board "
                f"{self.label()} yet; apply adds them"
            )
        return changes

    def apply(
        self, changes: list[FieldChange], report: ApplyReport, *, refresh: Callable[[], object]
    ) -> None:
        """The field part of :meth:`GitHubAdapter.apply`. ``refresh`` (a fetch) runs first
        when the board was not read with the items and node ids of the changed issues."""
        self.items_added = []
        by_item: dict[str, list[FieldChange]] = {}
        for change in changes:
            by_item.setdefault(change.item, []).append(change)
        if by_item:
            board = self.board
            if (
                board is None
                or not board.items_read
                or any(k not in board.items and k not in self.node_ids for k in by_item)
            ):
                refresh()  # apply() without fetch(): learn item and node ids
                board = self.board
            assert board is not None
            found, missing = self.resolve_fields(board)
            for key, item_changes in by_item.items():
                item_id = board.items.get(key) or self._add_item(board, key)
                ops: list[tuple[str, bool]] = []
                variables: dict[str, Any] = {"project": board.id, "item": item_id}
                for i, change in enumerate(item_changes):
                    if change.field in missing:
                        raise self._missing_field_error(change.field, missing[change.field])
                    target = found.get(change.field)
                    if target is None:
                        raise errors.ConfigError(
                            f"no Projects field resolved for logical field '{change.field}'"
                        )
                    alias = f"f{i}"
                    variables[f"{alias}Field"] = target.id
                    if change.new == "":
                        ops.append((alias, False))
                    else:
                        ops.append((alias, True))
                        variables[f"{alias}Value"] = self._field_input(target, change.new)
                self._client.graphql(
                    queries.set_fields_mutation(ops),
                    variables,
                    what=f"update of {key} on Projects board {self.label()}",
                    write=True,
                )
                values = board.values.setdefault(key, {})
                for change in item_changes:
                    values[found[change.field].id] = change.new
                report.issues_updated += 1
                report.fields_written += len(item_changes)
                report.items_written.append(key)
        if self.items_added:
            self._ctx.notes.add(
                f"added {len(self.items_added)} issue(s) to the Projects board "
                f"{self.label()}: {', '.join(self.items_added)}"
            )

    def _add_item(self, board: Board, key: str) -> str:
        content = self.node_ids.get(key)
        if content is None:
            raise errors.InputError(f"{key} is not an issue of the configured repositories")
        data = self._client.graphql(
            queries.ADD_ITEM,
            {"project": board.id, "content": content},
            what=f"adding {key} to Projects board {self.label()}",
            write=True,
        )
        item = ((data.get("addProjectV2ItemById") or {}).get("item") or {}).get("id")
        if not item:
            raise errors.TrackerError(
                f"GitHub did not return the board item of {key}", method="POST", path="/graphql"
            )
        board.items[str(key)] = str(item)
        self.items_added.append(key)
        return str(item)

    # ------------------------------------------------------------------ setup

    def missing_fields(self) -> list[tuple[str, str, str]]:
        """``(logical, field name, data type)`` of our fields the board lacks."""
        board = self.load(with_items=False)
        _, missing = self.resolve_fields(board)
        return [
            (logical, name, FIELD_TYPES.get(logical, "NUMBER")) for logical, name in missing.items()
        ]

    def create_fields(self, fields: list[tuple[str, str, str]]) -> list[str]:
        """Create fields on the board with ``createProjectV2Field``; their names."""
        board = self.board or self.load(with_items=False)
        created = []
        for logical, name, data_type in fields:
            payload: dict[str, Any] = {"projectId": board.id, "dataType": data_type, "name": name}
            if data_type == "SINGLE_SELECT":
                payload["singleSelectOptions"] = [
                    {"name": option, "color": color, "description": ""}
                    for option, color in CRITICAL_OPTIONS
                ]
            data = self._client.graphql(
                queries.CREATE_FIELD,
                {"input": payload},
                what=f"creation of field '{name}' (fields.{logical})",
                write=True,
                idempotent=False,
            )
            node = (data.get("createProjectV2Field") or {}).get("projectV2Field") or {}
            if node.get("id"):
                board.fields[name.strip().casefold()] = ProjectField(
                    id=str(node["id"]),
                    name=str(node.get("name") or name),
                    data_type=str(node.get("dataType") or data_type),
                )
            created.append(name)
        return created
