"""A measured figure beside its baseline, and how results.json and results.md are written."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Goal:
    """`ratio <= limit` (against the baseline) or `value < limit` (an absolute bound)."""

    limit: float
    on_ratio: bool = True

    def met(self, value: float, ratio: float | None) -> bool | None:
        if self.on_ratio:
            return None if ratio is None else ratio <= self.limit
        return value < self.limit

    def text(self, unit: str) -> str:
        return f"<= {self.limit:g}x" if self.on_ratio else f"< {self.limit:g} {unit}".strip()


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    baseline: float | None
    unit: str
    goal: Goal | None
    baseline_is: str  # what the baseline is, in a few words
    note: str = ""  # how it was measured, or why a goal is not met

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value, self.ratio)

    def as_json(self) -> dict[str, object]:
        ratio = self.ratio
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "baseline": None if self.baseline is None else round(self.baseline, 3),
            "ratio": None if ratio is None else round(ratio, 3),
            "goal": None if self.goal is None else self.goal.text(self.unit),
            "met": self.met,
            "unit": self.unit,
            "baseline_is": self.baseline_is,
            "note": self.note,
        }


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_json(figures: list[Figure], path: Path) -> None:
    path.write_text(json.dumps([f.as_json() for f in figures], indent=2, ensure_ascii=False) + "\n")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def write_markdown(
    figures: list[Figure], curve: dict[str, list[tuple[int, float]]], header: str, path: Path
) -> None:
    met = {True: "yes", False: "**no**", None: "-"}
    lines = [
        "# `make bench` results",
        "",
        header,
        "",
        "| figure | value | baseline | ratio | goal | met | baseline is | note |",
        "| --- | ---: | ---: | ---: | --- | --- | --- | --- |",
    ]
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        goal = "-" if f.goal is None else f.goal.text(f.unit)
        lines.append(
            f"| {f.name} | {_number(f.value)} {f.unit} | {_number(f.baseline)} | {ratio} | {goal} "
            f"| {met[f.met]} | {f.baseline_is} | {f.note} |"
        )
    if curve:
        path.with_name("cost-per-upload.svg").write_text(svg_chart(curve))
        lines += [
            "",
            "## Cost per upload against run size",
            "",
            "![cost per upload against run size](cost-per-upload.svg)",
            "",
            "| uploads | " + " | ".join(f"{name} (ms per upload)" for name in curve) + " |",
            "| ---: | " + " | ".join("---:" for _ in curve) + " |",
        ]
        sizes = sorted({n for points in curve.values() for n, _ in points})
        for n in sizes:
            cells = [next((f"{ms:.1f}" for m, ms in points if m == n), "-") for points in curve.values()]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def svg_chart(curve: dict[str, list[tuple[int, float]]]) -> str:
    """Lines of ms per upload against the number of uploads (log scale across)."""
    import math

    width, height, left, bottom, top, right = 560, 300, 60, 40, 20, 150
    sizes = [n for points in curve.values() for n, _ in points]
    highest = max(ms for points in curve.values() for _, ms in points) * 1.15
    low, high = math.log10(min(sizes)), math.log10(max(sizes))
    span = (high - low) or 1.0

    def x(n: int) -> float:
        return left + (math.log10(n) - low) / span * (width - left - right)

    def y(ms: float) -> float:
        return height - bottom - ms / highest * (height - bottom - top)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
        "uploads in the run</text>",
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">ms per upload</text>',
    ]
    for step in range(5):
        ms = highest * step / 4
        parts.append(f'<text x="{left - 6}" y="{y(ms) + 4:.1f}" text-anchor="end">{ms:.0f}</text>')
        parts.append(
            f'<line x1="{left}" y1="{y(ms):.1f}" x2="{width - right}" y2="{y(ms):.1f}" stroke="#ddd"/>'
        )
    for n in sorted(set(sizes)):
        parts.append(f'<text x="{x(n):.1f}" y="{height - bottom + 14}" text-anchor="middle">{n}</text>')
    for i, (name, points) in enumerate(curve.items()):
        colour = colours[i % len(colours)]
        path = " ".join(f"{x(n):.1f},{y(ms):.1f}" for n, ms in sorted(points))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n, ms in points:
            parts.append(f'<circle cx="{x(n):.1f}" cy="{y(ms):.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{width - right + 8}" y="{top + 14 + 16 * i}" fill="{colour}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
