"""PNG charts of reports with matplotlib (Agg: no display needed): bars, lines over time, funnels."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from reporting.kpis import COUNT_KPIS, DURATION_KPIS, TIME_GROUPINGS  # noqa: E402

SIZE, DPI = (10, 5.6), 100  # 1000 x 560 pixels
COLOURS = ["#2f6db5", "#e08a2c", "#3a9a5b", "#c2413b", "#7b5ea7", "#8c6d31", "#d16ba5", "#5f6b7a"]


def pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _figure(title: str, subtitle: str):
    figure, axes = plt.subplots(figsize=SIZE, dpi=DPI)
    figure.suptitle(title, fontsize=15, fontweight="bold", x=0.02, ha="left")
    axes.set_title(subtitle, fontsize=10, color="#555555", loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _png(figure) -> bytes:
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    plt.close(figure)
    return out.getvalue()


def _subtitle(report: dict) -> str:
    parts = [f"{report['from']} to {report['to']} ({report['tz']})"] if "from" in report else [report.get("tz", "")]
    fresh = report.get("fresh_as_of")
    if fresh:
        parts.append(f"events up to {fresh['event_occurred_at'][:16].replace('T', ' ')} UTC")
    return " · ".join(parts)


def _measure(values: dict) -> tuple[str, dict]:
    """What to plot of a set of KPI values: the counts, or else times in hours, SLA share, amounts."""
    counts = [name for name in values if name in COUNT_KPIS]
    if counts:
        return "count", {pretty(name): (lambda v, n=name: v[n]) for name in counts}
    durations = [name for name in values if name in DURATION_KPIS]
    if durations:
        return "hours (median)", {pretty(name): (lambda v, n=name: (v[n]["median"] or 0) / 3600) for name in durations}
    if "sla_compliance" in values:
        return "% within SLA", {"SLA compliance": lambda v: 100 * (v["sla_compliance"]["share"] or 0)}
    currencies = sorted({currency for currency in values.get("won_amount", {})}) or ["EUR"]
    return "amount won", {c: (lambda v, c=c: float(v["won_amount"].get(c, 0))) for c in currencies}


def _label_bars(axes, bars, unit: str) -> None:
    for bar in bars:
        height = bar.get_height()
        text = f"{height:.0f}" if unit == "count" else f"{height:,.1f}"
        axes.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, height),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )


def _grouped_bars(axes, categories: list[str], series: dict[str, list[float]], unit: str) -> None:
    width = 0.8 / max(1, len(series))
    for index, (name, heights) in enumerate(series.items()):
        positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(categories))]
        bars = axes.bar(positions, heights, width * 0.92, label=name, color=COLOURS[index % len(COLOURS)])
        _label_bars(axes, bars, unit)
    axes.set_xticks(
        range(len(categories)),
        categories,
        rotation=20 if len(categories) > 6 else 0,
        ha="right" if len(categories) > 6 else "center",
    )
    if len(series) > 1:
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def kpi_chart(report: dict, title: str) -> bytes:
    group_by = report.get("group_by")
    by = {"week": "ISO week", None: ""}.get(group_by, group_by)
    figure, axes = _figure(f"{title} by {by}" if by else title, _subtitle(report))
    unit, measures = _measure(report["kpis"])
    axes.set_ylabel(unit)
    if unit == "count":
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if group_by in TIME_GROUPINGS:
        labels = [group["label"] for group in report["groups"]]
        for index, (name, measure) in enumerate(measures.items()):
            points = [measure(group["kpis"]) for group in report["groups"]]
            axes.plot(labels, points, marker="o", linewidth=2, label=name, color=COLOURS[index % len(COLOURS)])
            if len(labels) <= 16:
                for x, y in zip(labels, points, strict=True):
                    axes.annotate(
                        f"{y:.0f}" if unit == "count" else f"{y:.1f}",
                        (x, y),
                        xytext=(0, 6),
                        textcoords="offset points",
                        ha="center",
                        fontsize=8,
                    )
        axes.set_xlabel({"day": "day", "week": "ISO week (Monday to Sunday)", "month": "month"}[group_by])
        step = max(1, len(labels) // 12)
        axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right")
        axes.set_ylim(bottom=0, top=max(1, axes.get_ylim()[1] * 1.1))
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    elif group_by in ("user", "department"):
        groups = report["groups"]
        series = {name: [measure(group["kpis"]) for group in groups] for name, measure in measures.items()}
        _grouped_bars(axes, [group["label"] for group in groups], series, unit)
        axes.set_xlabel(group_by + (" (with the departments below it)" if group_by == "department" else ""))
    else:
        names = list(measures)
        bars = axes.bar(names, [measure(report["kpis"]) for measure in measures.values()], color=COLOURS[0])
        _label_bars(axes, bars, unit)
        axes.set_xticks(
            range(len(names)), names, rotation=20 if len(names) > 5 else 0, ha="right" if len(names) > 5 else "center"
        )
    return _png(figure)


def funnel_chart(report: dict) -> bytes:
    figure, axes = _figure("Deal funnel", _subtitle(report) + f" · deals created: {report['deals']}")
    stages = report["stages"]
    widest = max([stage["reached"] for stage in stages] + [1])
    for row, stage in enumerate(stages):
        width = stage["reached"]
        axes.barh(row, width, left=(widest - width) / 2, height=0.7, color=COLOURS[row % len(COLOURS)])
        text = f"{pretty(stage['stage'])}: {width}"
        if stage["conversion_to_next"] is not None:
            text += f"  ({stage['conversion_to_next']:.0%} go on)"
        axes.text(
            widest / 2,
            row,
            text,
            ha="center",
            va="center",
            fontsize=11,
            color="black",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 2},
        )
    axes.set_yticks([])
    axes.set_xticks([])
    axes.invert_yaxis()
    axes.set_xlim(0, widest)
    axes.set_xlabel(f"deals reaching each stage · won {report['won']}, lost {report['lost']}")
    axes.grid(False)
    axes.spines[["left"]].set_visible(False)
    return _png(figure)


def compare_chart(report: dict) -> bytes:
    figure, axes = _figure("Comparison", report["tz"])
    rows = [row for row in report["rows"] if row["kpi"] in COUNT_KPIS]
    series = {
        column["label"]: [row["values"][index] or 0 for row in rows] for index, column in enumerate(report["columns"])
    }
    _grouped_bars(axes, [pretty(row["kpi"]) for row in rows], series, "count")
    axes.set_ylabel("count")
    return _png(figure)


def plan_chart(report: dict) -> bytes:
    figure, axes = _figure(f"Plan against actual, {report['period']}", _subtitle(report))
    plans = report["plans"]
    labels = [
        f"{pretty(row['plan']['metric'])} · {row['plan']['department_id'] or row['plan']['user_id']}"[:40]
        for row in plans
    ]
    shares = [row["percentage"] or 0 for row in plans]
    bars = axes.barh(labels, shares, color=[COLOURS[2] if share >= 100 else COLOURS[1] for share in shares])
    for bar, row in zip(bars, plans, strict=True):
        axes.annotate(
            f"{row['actual']} of {row['plan']['value'].rstrip('0').rstrip('.')} ({bar.get_width():.0f}%)",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    axes.axvline(100, color="#333333", linestyle="--", linewidth=1)
    axes.xaxis.set_major_formatter(PercentFormatter())
    axes.set_xlabel("share of the plan reached")
    axes.grid(axis="x", color="#dddddd")
    axes.invert_yaxis()
    return _png(figure)


def campaign_chart(report: dict) -> bytes:
    figure, axes = _figure("Campaign responses", _subtitle(report) + f" · {report['total']['responses']['sent']} sent")
    rates = report["total"]["rates"]
    kinds = list(rates)
    bars = axes.bar([pretty(kind) for kind in kinds], [100 * (rates[kind] or 0) for kind in kinds], color=COLOURS[0])
    _label_bars(axes, bars, "%")
    axes.yaxis.set_major_formatter(PercentFormatter())
    axes.set_ylabel("share of messages sent")
    return _png(figure)


def to_png(report_name: str, report: dict) -> bytes:
    if report_name == "funnel":
        return funnel_chart(report)
    if report_name == "compare":
        return compare_chart(report)
    if report_name == "plan-vs-actual":
        return plan_chart(report)
    if report_name == "campaigns":
        return campaign_chart(report)
    return kpi_chart(report, "SLA" if report_name == "sla" else "KPIs")
