"""Reports as JSON (as they are), CSV (one row per group and KPI) or PNG charts.

Over RPC a CSV or PNG travels as `{"rendered": {"content_type", "filename", "base64"}}`; the gateway
answers with those bytes.
"""

import base64
import csv
import io

from reporting.reports import flatten


def rendered(report_name: str, report: dict, output_format: str) -> dict:
    if output_format == "json":
        return report
    if output_format == "csv":
        content, content_type = to_csv(report_name, report).encode(), "text/csv; charset=utf-8"
    else:
        from reporting.charts import to_png  # matplotlib loads only when a chart is asked for

        content, content_type = to_png(report_name, report), "image/png"
    filename = f"{report_name}.{output_format}"
    return {
        "rendered": {
            "content_type": content_type,
            "filename": filename,
            "base64": base64.b64encode(content).decode(),
        }
    }


def _breakdown_values(breakdowns: dict) -> dict:
    return {
        f"{name}.{dimension}.{value}": count
        for name, dimensions in breakdowns.items()
        for dimension, counts in dimensions.items()
        for value, count in counts.items()
    }


def _table(report_name: str, report: dict) -> tuple[list, list[list]]:
    if report_name in ("kpis", "sla"):
        groups = report.get("groups") or [{"key": None, "label": "total", **report}]
        rows = [
            [group["label"], group["key"] or "", name, "" if value is None else value]
            for group in groups
            for name, value in (flatten(group["kpis"]) | _breakdown_values(group["breakdowns"])).items()
        ]
        return [report.get("group_by") or "group", "key", "kpi", "value"], rows
    if report_name == "funnel":
        header = ["stage", "reached", "conversion_to_next", "average_time_in_stage_s"]
        currencies = sorted({currency for stage in report["stages"] for currency in stage.get("amount", {})})
        rows = [
            [stage[name] for name in header] + [stage["amount"].get(currency, "0") for currency in currencies]
            for stage in report["stages"]
        ]
        return header + [f"amount {currency}" for currency in currencies], rows
    if report_name == "campaigns":
        rows = [
            [campaign["campaign_id"], kind, count, campaign["rates"].get(kind)]
            for campaign in report["campaigns"]
            for kind, count in campaign["responses"].items()
        ]
        return ["campaign_id", "kind", "responses", "rate"], rows
    if report_name == "plan-vs-actual":
        header = ["plan_id", "metric", "period", "department_id", "user_id", "currency", "plan", "actual", "percentage"]
        rows = [
            [row["plan"]["id"], *(row["plan"][name] for name in header[1:6]), row["plan"]["value"], row["actual"]]
            + [row["percentage"]]
            for row in report["plans"]
        ]
        return header, rows
    labels = [column["label"] for column in report["columns"]]
    header = ["kpi", *labels]
    header += [f"difference {label}" for label in labels[1:]] + [f"relative {label}" for label in labels[1:]]
    rows = [[row["kpi"], *row["values"], *row["difference"][1:], *row["relative"][1:]] for row in report["rows"]]
    return header, rows


def to_csv(report_name: str, report: dict) -> str:
    header, rows = _table(report_name, report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return out.getvalue()
