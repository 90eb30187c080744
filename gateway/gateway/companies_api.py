"""`/api/v1/companies`: the organisations contacts work for (contacts service, which also holds the
rule of who may own one: `contacts.placement`)."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import action, contract_value, crud, ref
from gateway.routing import STAFF, V1


class CompaniesApi:
    @api("POST", f"{V1}/companies")
    def create_company(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("owner_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        company = self.contacts.create_company(data)
        return entity_response(company, 201, f"{V1}/companies/{company['id']}")

    @api("GET", f"{V1}/companies/<string:company_id>")
    def get_company(self, request, company_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.get_company(company_id))

    @api("PATCH", f"{V1}/companies/<string:company_id>")
    def update_company(self, request, company_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.update_company(company_id, json_body(request), expected_version(request)))

    @api("DELETE", f"{V1}/companies/<string:company_id>")
    def delete_company(self, request, company_id):
        self.auth.require(request, *STAFF)
        self.contacts.delete_company(company_id, expected_version(request))
        return 204, ""

    @api("POST", f"{V1}/companies/<string:company_id>/restore")
    def restore_company(self, request, company_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.restore_company(company_id))

    @api("GET", f"{V1}/companies")
    def list_companies(self, request):
        self.auth.require(request, *STAFF)
        return self.contacts.list_companies(query_args(request))

    @staticmethod
    def describe(spec):
        spec.publish("Company", "contacts", "CompanySchema")
        query = spec.contract_schema("contacts", "CompanyQuerySchema")
        sorts = tuple(contract_value("contacts", "COMPANY_SORTS"))
        crud(spec, f"{V1}/companies", "Company", "companies", query=query, sorts=sorts)
        action(spec, f"{V1}/companies/{{id}}/restore", "companies", "Undo a delete", None, ref("Company"))
