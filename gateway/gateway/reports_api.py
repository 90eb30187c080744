"""`/api/v1/reports`: the gateway's routes to the reporting service (JSON, CSV or PNG)."""

import base64

from werkzeug.wrappers import Response

from crm_kernel.http import api, content_disposition, json_response, query_args
from gateway.openapi import ERRORS, beyond_schema, contract_value, ref
from gateway.routing import READERS, V1


def _param(name: str, description: str, **schema) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string", **schema}}


DAY = r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"  # a date of 1970-2999
ID = {"minLength": 1, "maxLength": 32}
IDS = {"pattern": r"^[^,]{1,32}(,[^,]{1,32}){0,19}$"}  # up to 20 comma-separated ids
PERIOD_PARAMS = [
    _param(
        "from",
        "first local day of the period, 1970-01-01 to 2999-12-31 (default: 29 days ago)",
        format="date",
        pattern=DAY,
    ),
    _param(
        "to",
        "last local day of the period, inclusive, at most 2999-12-31 (default: today)",
        format="date",
        pattern=DAY,
    ),
    {
        "name": "tz",
        "in": "query",
        "description": "IANA time zone the days are read in (default UTC)",
        "schema": ref("TimeZone"),
    },
    _param("department_id", "a department, with every department below it", **ID),
    _param("user_id", "a user", **ID),
    _param("format", "json (default), csv or png", enum=["json", "csv", "png"]),
]
GROUP_PARAM = _param(
    "group_by",
    "user, department (rolled up the tree), day (at most 366 days), week (ISO, at most 5 years) or month",
    enum=["user", "department", "day", "week", "month"],
)
COMPARE_PARAMS = [
    _param("compare_from", "first day of the period to compare with", format="date", pattern=DAY),
    _param("compare_to", "last day of the period to compare with", format="date", pattern=DAY),
]


def kpi_param() -> dict:
    names = "|".join(contract_value("reporting", "KPIS"))
    return _param("kpi", "comma-separated KPI names (default: all)", pattern=f"^({names})(,({names}))*$")


def reports() -> dict:
    """Each report's summary and query parameters."""
    period = _param(
        "period",
        contract_value("reporting", "PERIOD_ERROR"),
        pattern=contract_value("reporting", "PERIOD_PATTERN"),
    )
    kpi = kpi_param()
    compared = [
        _param("department_id", "departments to compare (comma-separated, at most 20), or one to narrow to", **IDS),
        _param("user_id", "users to compare (comma-separated, at most 20), or one to narrow to", **IDS),
    ]
    return {
        "kpis": ("KPIs in total and per group", [*PERIOD_PARAMS, GROUP_PARAM, kpi]),
        "funnel": ("Conversion per stage and average time in stage of the deals created in the period", PERIOD_PARAMS),
        "sla": ("Ticket response and resolution times and SLA compliance", [*PERIOD_PARAMS, GROUP_PARAM]),
        "campaigns": ("Campaign responses and rates per kind", PERIOD_PARAMS),
        "plan-vs-actual": (
            "Each plan of the period with its actual and percentage",
            [{**period, "required": True}, *PERIOD_PARAMS[2:]],
        ),
        "compare": (
            "Two periods, or several departments or users (comma-separated ids), side by side",
            [*PERIOD_PARAMS[:3], *compared, PERIOD_PARAMS[5], *COMPARE_PARAMS, kpi],
        ),
    }


PERIOD_RULES = (
    "`to` is not before `from`",
    "a period is at most 366 days with group_by=day, 1830 with week, 3660 otherwise",
)
COMPARE_RULES = (
    *PERIOD_RULES,
    "either compare_from and compare_to (not before it), with at most one id in department_id and user_id, "
    "or two or more ids in department_id or in user_id, not both",
)


def rules_of(report: str) -> dict:
    """The description of what `report`'s parameters are checked for beyond their schemas."""
    rules = {"compare": COMPARE_RULES, "plan-vs-actual": ()}.get(report, PERIOD_RULES)
    return {"description": beyond_schema(*rules)} if rules else {}


def report_response(result: dict) -> Response:
    """The report as JSON, or the CSV or PNG the reporting service rendered."""
    output = result.get("rendered") if isinstance(result, dict) else None
    if output is None:
        return json_response(result)
    headers = {"Content-Disposition": content_disposition("inline", output["filename"])}
    return Response(base64.b64decode(output["base64"]), headers=headers, content_type=output["content_type"])


class ReportsApi:
    @api("GET", f"{V1}/reports/kpis")
    def report_kpis(self, request):
        self.auth.require(request, *READERS)
        return report_response(self.reporting.kpis(query_args(request)))

    @api("GET", f"{V1}/reports/funnel")
    def report_funnel(self, request):
        self.auth.require(request, *READERS)
        return report_response(self.reporting.funnel(query_args(request)))

    @api("GET", f"{V1}/reports/sla")
    def report_sla(self, request):
        self.auth.require(request, *READERS)
        return report_response(self.reporting.sla(query_args(request)))

    @api("GET", f"{V1}/reports/campaigns")
    def report_campaigns(self, request):
        self.auth.require(request, *READERS)
        return report_response(self.reporting.campaigns(query_args(request)))

    @api("GET", f"{V1}/reports/plan-vs-actual")
    def report_plan_vs_actual(self, request):
        self.auth.require(request, *READERS)
        return report_response(self.reporting.plan_vs_actual(query_args(request)))

    @api("GET", f"{V1}/reports/compare")
    def report_compare(self, request):
        self.auth.require(request, *READERS)
        return report_response(self.reporting.compare(query_args(request)))

    @staticmethod
    def describe(spec):
        for name, (summary, parameters) in reports().items():
            content = {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            }
            spec.path(
                path=f"{V1}/reports/{name}",
                operations={
                    "get": {
                        "tags": ["reports"],
                        "summary": summary,
                        **rules_of(name),
                        "parameters": parameters,
                        "responses": {"200": {"description": summary, "content": content}, **ERRORS},
                    }
                },
            )
