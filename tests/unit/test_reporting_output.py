"""Reports as CSV (one row per group and KPI) and as PNG charts a person would rather look at."""

import base64
import csv
import io

import pytest
from matplotlib.axes import Axes
from PIL import Image
from reporting_events import apply, contact_created, deal_history, interaction_created

from reporting.models import Base, OutboxEvent
from reporting.service import ReportingService

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def reporting(workers):
    return workers(ReportingService, Base, OutboxEvent)


def content(result: dict) -> tuple[str, bytes]:
    rendered = result["rendered"]
    return rendered["content_type"], base64.b64decode(rendered["base64"])


def test_kpis_as_csv_have_one_row_per_group_and_kpi(reporting):
    apply(reporting, contact_created("2026-03-02T10:00:00+00:00"))
    apply(reporting, interaction_created("2026-03-10T10:00:00+00:00", "email", "outbound"))

    content_type, body = content(
        reporting.kpis({**MARCH, "group_by": "week", "kpi": "contacts_created,interactions", "format": "csv"})
    )

    rows = list(csv.reader(io.StringIO(body.decode())))
    assert content_type.startswith("text/csv")
    assert rows[0] == ["week", "key", "kpi", "value"]
    assert ["2026-W10", "2026-W10", "contacts_created", "1"] in rows
    assert ["2026-W11", "2026-W11", "interactions.channel.email", "1"] in rows
    assert len([row for row in rows if row[2] == "contacts_created"]) == 6  # weeks 9 to 14 all listed


def test_the_funnel_as_csv_has_one_row_per_stage(reporting):
    for each in deal_history("2026-03-02T09:00:00+00:00", [("qualified", "2026-03-03T09:00:00+00:00")]):
        apply(reporting, each)

    _, body = content(reporting.funnel({**MARCH, "format": "csv"}))

    assert body.decode().splitlines()[:3] == [
        "stage,reached,conversion_to_next,average_time_in_stage_s,amount EUR",
        "lead,1,1.0,86400.0,1000.00",
        "qualified,1,0.0,,1000.00",
    ]


@pytest.fixture
def drawn_texts(monkeypatch):
    """Every text a chart writes on its axes (value labels, funnel stages), in drawing order."""
    texts = []
    annotate, text = Axes.annotate, Axes.text

    def recording_annotate(self, label, *args, **kwargs):
        texts.append(label)
        return annotate(self, label, *args, **kwargs)

    def recording_text(self, x, y, label, *args, **kwargs):
        texts.append(label)
        return text(self, x, y, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "annotate", recording_annotate)
    monkeypatch.setattr(Axes, "text", recording_text)
    return texts


def png_of(reporting, **query) -> bytes:
    content_type, body = content(reporting.kpis({**MARCH, "format": "png", **query}))
    assert content_type == "image/png"
    return body


@pytest.mark.parametrize("group_by", [None, "week", "user"])
def test_kpis_as_a_chart_are_a_png_of_readable_size(reporting, group_by):
    apply(reporting, contact_created("2026-03-02T10:00:00+00:00"))

    body = png_of(reporting, **({"group_by": group_by} if group_by else {}), kpi="contacts_created,interactions")

    assert body.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(body)).size == (1000, 560)


def test_a_weekly_chart_labels_each_week_with_its_count(reporting, drawn_texts):
    for day in ("02", "03", "17"):  # two in week 10, one in week 12
        apply(reporting, contact_created(f"2026-03-{day}T10:00:00+00:00"))

    body = png_of(reporting, group_by="week", kpi="contacts_created")

    assert drawn_texts == ["0", "2", "0", "1", "0", "0"]  # weeks 9 to 14
    assert Image.open(io.BytesIO(body)).size == (1000, 560)


def test_the_funnel_chart_names_each_stage_with_its_deals_and_conversion(reporting, drawn_texts):
    for each in deal_history("2026-03-02T09:00:00+00:00", [("qualified", "2026-03-03T09:00:00+00:00")]):
        apply(reporting, each)

    content(reporting.funnel({**MARCH, "format": "png"}))

    assert drawn_texts[:3] == ["Lead: 1  (100% go on)", "Qualified: 1  (0% go on)", "Proposal: 0"]


@pytest.mark.parametrize("report", ["funnel", "campaigns", "sla"])
def test_every_report_can_be_drawn(reporting, report):
    for each in deal_history("2026-03-02T09:00:00+00:00", [("won", "2026-03-03T09:00:00+00:00")]):
        apply(reporting, each)

    _, body = content(getattr(reporting, report)({**MARCH, "format": "png"}))

    assert body.startswith(PNG_SIGNATURE)
