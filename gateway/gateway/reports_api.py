"""`/api/v1/reports`: the gateway's routes to the reporting service."""

from crm_kernel.http import api, query_args
from gateway.identity import V1
from gateway.openapi import ERRORS, json_content

REPORT_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string", **extra}}
    for name, extra in [
        ("from", {"format": "date"}),
        ("to", {"format": "date"}),
        ("tz", {}),
        ("department_id", {}),
        ("user_id", {}),
    ]
]


class ReportsApi:
    @api("GET", f"{V1}/reports/kpis")
    def report_kpis(self, request):
        self.auth.require(request)
        return self.reporting.kpis(query_args(request))

    @staticmethod
    def describe(spec):
        kpis = {
            "type": "object",
            "properties": {
                "from": {"type": "string"},
                "to": {"type": "string"},
                "tz": {"type": "string"},
                "kpis": {"type": "object", "additionalProperties": {"type": "number"}},
                "fresh_as_of": {"type": "string", "nullable": True},
            },
        }
        spec.path(
            path=f"{V1}/reports/kpis",
            operations={
                "get": {
                    "tags": ["reports"],
                    "parameters": REPORT_PARAMS,
                    "responses": {"200": {"description": "KPI counts", **json_content(kpis)}, **ERRORS},
                }
            },
        )
