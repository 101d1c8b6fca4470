"""Operators: events a handler gave up on, and replaying them."""
from marshmallow import Schema, fields

from gateway.http import route
from gateway.routes.base import Routes
from plumbing.auth import ADMIN
from plumbing.config import SERVICES
from plumbing.errors import NotFound

TAG = "Operations"


class ParkedQuerySchema(Schema):
    include_replayed = fields.Boolean(load_default=False)


def service_name(name):
    if name not in SERVICES:
        raise NotFound("No service %s" % name, code="service_not_found")
    return name


class AdminRoutes(Routes):
    @route("GET", "/api/v1/admin/services/<string:service>/parked-events",
           summary="Events a service parked after its last retry", tags=[TAG], query=ParkedQuerySchema)
    def list_parked_events(self, request, service):
        self.identity.require(ADMIN)
        query = self.query(request, ParkedQuerySchema)
        return getattr(self, service_name(service)).list_parked_events(query["include_replayed"])

    @route("POST", "/api/v1/admin/services/<string:service>/parked-events/<int:parked_id>/replay",
           summary="Send a parked event back to its handler", tags=[TAG])
    def replay_parked_event(self, request, service, parked_id):
        self.identity.require(ADMIN)
        return getattr(self, service_name(service)).replay_parked_event(parked_id)
