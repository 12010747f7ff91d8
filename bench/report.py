"""The result table, as Markdown (readable in a terminal, pasteable into the README)."""

from __future__ import annotations

from typing import Optional

from .run import Result


def _rate(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:,.0f}"


def render(result: Result) -> str:
    lines = [
        f"\nN = {result.n:,}",
        "",
        "| operation | n | mcard ops/s | raw ops/s | ratio | target | note |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in result.rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.operation} | {row.count:,} | {_rate(row.rate)} | {_rate(row.raw_rate)} "
            f"| {ratio} | {row.target} | {row.note} |"
        )
    lines.extend(f"\n{fact}" for fact in result.facts)
    return "\n".join(lines)
