"""How results look: JSON for scripts, rich tables of plans and pass results for people,
and the progress bar on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tracker_bridge.cli.app import err, out
from tracker_bridge.model import ChangeSet, Plan, Snapshot

if TYPE_CHECKING:  # the pipeline (adapters, store...) is imported only by commands using it
    from tracker_bridge.pipeline import PassResult


def dump_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing under cron, pipes, --json or --quiet."""
    if not enabled or not err.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def show_table(table: Table) -> None:
    """A table for people on a terminal; off one (a pipe, a log) tab-separated lines with
    every cell in full, under the title: nothing is cut to 80 columns."""
    if out.is_terminal:
        out.print(table)
        return
    if table.title:
        click.echo(str(table.title))
    columns = table.columns
    click.echo("\t".join(str(c.header) for c in columns))
    for row in zip(*(c.cells for c in columns), strict=True):
        click.echo("\t".join(str(cell) for cell in row))


def print_doctor(report: dict[str, list[dict[str, Any]]]) -> None:
    """Per project: the problems first, each with its fix; the passed checks in one line."""
    for name, findings in report.items():
        problems = [f for f in findings if not f["ok"]]
        passed = [f["id"] for f in findings if f["ok"]]
        counts = f"{len(problems)} problem(s), {len(passed)} ok" if problems else "all ok"
        out.print(f"doctor {name}: {counts}", markup=False)
        for f in problems:
            out.print(f"  FAIL {f['id']}: {f['message']}", markup=False)
            if f["fix"]:
                out.print(f"       fix: {f['fix']}", markup=False)
        if passed:
            out.print(f"  ok: {', '.join(passed)}", markup=False)


# Plan warnings the run summary repeats: a deadline that cannot be met, work forecast after
# its due date (the wiki page has the details; the other warnings are in `plan`).
SUMMARY_WARNINGS = ("float.negative", "due.forecast_late")


def _or_dash(value: object) -> str:
    return "–" if value is None else str(value)


def printable(text: str) -> str:
    """``text`` with lone surrogates (possible from JSON's ``\\udXXX`` escapes; no terminal
    encoding can print them) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _titles(snapshot: Snapshot) -> dict[str, str]:
    """Titles by key, printable; a warning names each item whose title or key was not."""
    titles: dict[str, str] = {}
    for item in snapshot.items:
        key, title = printable(item.key), printable(item.title)
        if (key, title) != (item.key, item.title):
            err.print(
                f"warning: item {key}: its key or title is not valid Unicode (a lone "
                "surrogate); shown with \ufffd",
                markup=False,
            )
        titles[key] = title
    return titles


def plan_table(plan: Plan, snapshot: Snapshot) -> None:
    titles = _titles(snapshot)
    with_risk = any(item.p80_finish is not None for item in plan.items.values())
    table = Table(title=f"{printable(plan.project.name)}: plan as of {plan.project.as_of}")
    table.add_column("item", no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=34)
    for column in ("early start", "early finish", "late start", "late finish"):
        table.add_column(column, no_wrap=True)
    table.add_column("TF", justify="right", no_wrap=True)  # total float, working days
    table.add_column("FF", justify="right", no_wrap=True)  # free float
    table.add_column("critical", no_wrap=True)
    if with_risk:
        table.add_column("P80 finish", no_wrap=True)
        table.add_column("risk", justify="right", no_wrap=True)
    for key, item in sorted(plan.items.items(), key=lambda kv: (kv[1].early_start, kv[0])):
        key = printable(key)
        row = [
            key,
            titles.get(key, ""),
            str(item.early_start),
            str(item.early_finish),
            str(item.late_start),
            str(item.late_finish),
            str(item.total_float),
            str(item.free_float),
            "yes" if item.critical else ("done" if item.state == "done" else ""),
        ]
        if with_risk:
            row += [str(item.p80_finish or ""), str(item.risk_score or "")]
        table.add_row(*row)
    show_table(table)
    if plan.milestones:
        milestones = Table(title="Milestones")
        for column in ("milestone", "due", "forecast", "float (d)"):
            milestones.add_column(column, no_wrap=True)
        if with_risk:
            for column in ("P50", "P80", "P95", "on time"):
                milestones.add_column(column, no_wrap=True)
        for m in plan.milestones:
            row = [printable(m.name), _or_dash(m.due), _or_dash(m.finish), _or_dash(m.total_float)]
            if with_risk:
                chance = m.probability_on_time
                row += [
                    str(m.p50 or "–"),
                    str(m.p80 or "–"),
                    str(m.p95 or "–"),
                    "–" if chance is None else f"{chance:.0%}",
                ]
            milestones.add_row(*row)
        show_table(milestones)
    project = plan.project
    out.print(f"Project start {project.start}, forecast finish [bold]{project.finish}[/bold].")
    for i, path in enumerate(project.critical_paths, 1):
        out.print(f"Critical path {i}: " + printable(" -> ".join(path)), markup=False)
    if project.critical_paths_truncated:
        out.print("(more critical paths exist; raise planner.max_critical_paths to list them)")
    for warning in plan.warnings:
        err.print(f"warning: {printable(warning.message)}", markup=False)


def _changes_json(changes: ChangeSet | None) -> dict[str, Any] | None:
    if changes is None:
        return None
    return {
        "fields": [c.model_dump(mode="json") for c in changes.fields],
        "pages": [
            {
                "title": p.title,
                "action": p.action,
                "lines_changed": p.lines_changed,
                "obsolete_attachments": p.obsolete_attachments,
            }
            for p in changes.pages
        ],
    }


def result_json(result: PassResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "project": result.project,
        "ok": result.ok,
        "error": result.error,
        "dry_run": result.dry_run,
        "items": result.items,
        "dependencies": result.dependencies,
        "requests": result.requests,
        "fetch_mode": result.fetch_mode,
        "full_fetch_reason": result.full_fetch_reason or None,
        "finish": str(plan.project.finish) if plan else None,
        "critical_paths": plan.project.critical_paths if plan else None,
        "warnings": [w.model_dump() for w in plan.warnings] if plan else None,
        "changes": _changes_json(result.changes),
        "fields_as_of": str(result.fields_as_of) if result.fields_as_of else None,
        "written": result.report.model_dump() if result.report else None,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _print_changes(changes: ChangeSet) -> None:
    if changes.empty:
        out.print("  no changes: the tracker already shows this plan")
        return
    if changes.fields:
        table = Table(show_edge=False)
        for column in ("issue", "field", "old", "new"):
            table.add_column(column)
        for change in changes.fields:
            old = "(unset)" if change.old in (None, "") else change.old
            table.add_row(change.item, change.field, old, change.new or "(cleared)")
        show_table(table)
    for page in changes.pages:
        verb = "create page" if page.action == "create" else "update page"
        leftovers = len(page.obsolete_attachments)
        if page.lines_changed or page.attachments or not leftovers:
            out.print(
                f"  {verb} {page.title!r}: block changed, {page.lines_changed} lines", markup=False
            )
        if leftovers:
            out.print(
                f"  delete {leftovers} replaced chart file(s) still on {page.title!r}",
                markup=False,
            )


def print_result(result: PassResult) -> None:
    if not result.ok:
        err.print(f"{result.project}: FAILED: {result.error}", markup=False)
        return
    assert result.plan is not None and result.changes is not None
    project = result.plan.project
    out.print(
        f"[bold]{result.project}[/bold]: {result.items} items, {result.dependencies} "
        f"dependencies; finish {project.finish}; critical path: "
        + (" -> ".join(project.critical_paths[0]) if project.critical_paths else "none"),
    )
    if result.dry_run:
        out.print("  dry run: these writes would be made")
        _print_changes(result.changes)
    elif result.report is not None:
        report = result.report
        if result.changes.empty:
            out.print("  no changes: the tracker already shows this plan")
        else:
            deleted = (
                f", deleted {report.attachments_deleted} replaced chart file(s)"
                if report.attachments_deleted
                else ""
            )
            out.print(
                f"  wrote {report.fields_written} field values on {report.issues_updated} "
                f"issues, {report.pages_written} wiki page(s){deleted}"
            )
    for warning in result.plan.warnings:
        if warning.code in SUMMARY_WARNINGS:
            out.print(f"  {warning.message}", markup=False)
    if result.fields_as_of and result.fields_as_of != project.as_of:
        out.print(
            f"  issue fields: the plan as of {result.fields_as_of} (weekly [write_back]); "
            f"the wiki page: as of {project.as_of}",
            markup=False,
        )
    fetch = ""
    if result.fetch_mode:
        reason = f", {result.full_fetch_reason}" if result.full_fetch_reason else ""
        fetch = f" ({result.fetch_mode} fetch{reason})"
    out.print(f"  {result.requests} API requests{fetch}", style="dim", markup=False)
