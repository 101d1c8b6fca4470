"""Support tickets: intake, the queue, acknowledgement and resolution."""
from gateway.http import forward, route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from services.support.contract.schemas import (AcknowledgeSchema, CreateTicketSchema, ResolveSchema,
                                               TicketFilterSchema, TicketSchema)

TAG = "Support"


class SupportRoutes(Routes):
    @route("POST", "/api/v1/support/tickets", summary="Raise a support ticket", tags=[TAG],
           body=CreateTicketSchema, response=TicketSchema, status=201, max_body=256 * 1024)
    def create_ticket(self, request):
        data = self.body(request)
        self.check_stores(self.identity, data, CreateTicketSchema)
        return 201, self.support.create_ticket(data)

    list_tickets = forward(
        "GET", "/api/v1/support/tickets", "support.list_tickets",
        summary="The support queue, filtered", tags=[TAG], query=TicketFilterSchema, response=page_of(TicketSchema))

    get_ticket = forward(
        "GET", "/api/v1/support/tickets/<string:reference>", "support.get_ticket", merchant_id=True,
        summary="One ticket, e.g. SUP-104", tags=[TAG], response=TicketSchema)

    acknowledge_ticket = forward(
        "POST", "/api/v1/support/tickets/<string:reference>/acknowledgement", "support.acknowledge_ticket",
        merchant_id=True, summary="Acknowledge a ticket (within two hours, or it is overdue)", tags=[TAG],
        body=AcknowledgeSchema, response=TicketSchema)

    resolve_ticket = forward(
        "POST", "/api/v1/support/tickets/<string:reference>/resolution", "support.resolve_ticket", merchant_id=True,
        summary="Resolve a ticket: No Action, Cancel, Refund or Replace", tags=[TAG],
        body=ResolveSchema, response=TicketSchema)
