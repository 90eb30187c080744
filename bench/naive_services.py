"""The naive Nameko baseline of `bench_http.py`, in the shape of nameko-examples: a gateway with a bare
`@http` route and a route that makes one RPC to a backend returning a fixed dict. No authentication,
no database, no validation: what the framework alone costs. Run each class in its own process:

    nameko run --config config.yaml naive_services:NaiveBackend
    nameko run --config config.yaml naive_services:NaiveGateway
"""

import json

from nameko.rpc import ServiceRpc, rpc
from nameko.web.handlers import http


class NaiveBackend:
    name = "naive_backend"

    @rpc
    def get_item(self, item_id: str) -> dict:
        return {"id": item_id, "name": "a fixed item", "price": "10.00", "tags": ["a", "b"]}


class NaiveGateway:
    name = "naive_gateway"
    backend = ServiceRpc("naive_backend")

    @http("GET", "/bare")
    def bare(self, request):
        return "ok"

    @http("GET", "/items/<item_id>")
    def get_item(self, request, item_id):
        return json.dumps(self.backend.get_item(item_id))
