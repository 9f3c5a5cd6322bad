"""The kit's reports: a terminal line per check as it runs and a table per operation at the end (rich), a
Markdown and an HTML report a person reads (per operation: passed or failed, what was sent, what differed
from the spec), and JUnit XML for CI."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .kit import Result


def by_operation(results: list[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        grouped[result.operation].append(result)
    return dict(grouped)


def summary(results: list[Result]) -> str:
    failed = sum(not r.passed for r in results)
    operations = by_operation(results)
    bad = sum(any(not r.passed for r in checks) for checks in operations.values())
    declared = sum(bool(r.declared) for r in results)
    text = (
        f"{len(results) - failed} of {len(results)} checks passed; "
        f"{len(operations) - bad} of {len(operations)} operations and scenarios without a failure"
    )
    return text + (f"; {declared} passed with differences the implementation declared" if declared else "")


def progress_line(console: Console, result: Result) -> None:
    mark = "[bold red]FAIL[/]" if not result.passed else "[yellow]PASS*[/]" if result.declared else "[green]PASS[/]"
    status = f" -> {result.status}" if result.status is not None else ""
    line = f"{mark} {escape(result.operation)} [dim]{escape(result.kind)}[/]: {escape(result.name)}{status}"
    if not result.passed:
        line += f"\n     [red]{escape(result.problem)}[/]"
    console.print(line, soft_wrap=True)


def terminal_table(console: Console, block: str, url: str, results: list[Result]) -> None:
    table = Table(title=f"{block} at {url}")
    table.add_column("operation / scenario")
    table.add_column("checks", justify="right")
    table.add_column("result")
    for operation, checks in by_operation(results).items():
        failed = [r for r in checks if not r.passed]
        verdict = "[green]pass[/]" if not failed else f"[bold red]FAIL[/] {escape(failed[0].problem)}"
        if not failed and any(r.declared for r in checks):
            verdict = "[yellow]pass, with declared differences[/]"
        table.add_row(escape(operation), str(len(checks)), verdict)
    console.print(table)
    console.print(summary(results))


def markdown(block: str, url: str, results: list[Result]) -> str:
    lines = [
        f"# GovStack conformance: {block}",
        "",
        f"Implementation: {url}  ",
        f"Checked: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Result: **{'PASSED' if all(r.passed for r in results) else 'FAILED'}**: {summary(results)}",
        "",
        "| operation / scenario | checks | result |",
        "|---|---|---|",
    ]
    grouped = by_operation(results)
    for operation, checks in grouped.items():
        failed = sum(not r.passed for r in checks)
        verdict = "pass" if not failed else f"**FAIL** ({failed})"
        if not failed and any(r.declared for r in checks):
            verdict = "pass, with declared differences"
        lines.append(f"| `{operation}` | {len(checks)} | {verdict} |")
    for operation, checks in grouped.items():
        lines += ["", f"## `{operation}`", ""]
        for result in checks:
            lines.append(f"- {'PASS' if result.passed else '**FAIL**'} ({result.kind}) {result.name}")
            lines += [f"  - declared difference: {text}" for text in result.declared]
            if result.passed:
                continue
            lines.append(f"  - what differed: {result.problem}")
            if result.sent:
                lines += ["  - sent:", "", _indented_block(result.sent)]
            if result.status is not None:
                lines += [f"  - answered: status {result.status}", "", _indented_block(result.answer or "(empty)")]
    return "\n".join(lines) + "\n"


def _indented_block(text: str) -> str:
    return "\n".join(["    ```", *(f"    {line}" for line in text.splitlines()), "    ```", ""])


def html_report(block: str, url: str, results: list[Result]) -> str:
    e = html.escape
    passed = all(r.passed for r in results)
    rows = []
    for operation, checks in by_operation(results).items():
        for result in checks:
            detail = "".join(f"<p class=declared>declared difference: {e(text)}</p>" for text in result.declared)
            if not result.passed:
                detail = f"<p class=problem>{e(result.problem)}</p>"
                if result.sent:
                    detail += f"<details><summary>sent</summary><pre>{e(result.sent)}</pre></details>"
                if result.status is not None:
                    detail += (
                        f"<details><summary>answered {result.status}</summary><pre>{e(result.answer)}</pre></details>"
                    )
            rows.append(
                f"<tr class={'pass' if result.passed else 'fail'}><td><code>{e(operation)}</code></td>"
                f"<td>{e(result.kind)}</td><td>{e(result.name)}{detail}</td>"
                f"<td>{'' if result.status is None else result.status}</td>"
                f"<td>{'pass' if result.passed else 'FAIL'}</td></tr>"
            )
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>GovStack conformance: {e(block)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .3em .5em; vertical-align: top; text-align: left; }}
tr.fail td {{ background: #fde8e8; }} .problem {{ color: #a00; font-weight: bold; }} .declared {{ color: #850; }}
pre {{ white-space: pre-wrap; }}
</style></head><body>
<h1>GovStack conformance: {e(block)}</h1>
<p>Implementation: <code>{e(url)}</code>. Result: <strong>{"PASSED" if passed else "FAILED"}</strong>:
{e(summary(results))}.</p>
<table><tr><th>operation / scenario</th><th>kind</th><th>check</th><th>status</th><th>result</th></tr>
{"".join(rows)}
</table></body></html>
"""


def junit(block: str, results: list[Result]) -> str:
    suite = ET.Element(
        "testsuite",
        name=f"govstack-conformance-{block}",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        errors="0",
    )
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"{block}.{result.operation}", name=result.name)
        if result.declared:
            ET.SubElement(case, "system-out").text = "declared differences: " + "; ".join(result.declared)
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.problem)
            failure.text = "\n".join(
                part
                for part in (
                    f"sent: {result.sent}" if result.sent else "",
                    f"answered {result.status}: {result.answer}" if result.status is not None else "",
                )
                if part
            )
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_reports(
    block: str, url: str, results: list[Result], report_dir: Path | None, junit_file: Path | None
) -> list[Path]:
    written = []
    if report_dir:
        report_dir.mkdir(parents=True, exist_ok=True)
        for name, text in (("md", markdown(block, url, results)), ("html", html_report(block, url, results))):
            path = report_dir / f"{block}.{name}"
            path.write_text(text)
            written.append(path)
    if junit_file:
        junit_file.parent.mkdir(parents=True, exist_ok=True)
        junit_file.write_text(junit(block, results))
        written.append(junit_file)
    return written
