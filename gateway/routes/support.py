"""Support tickets: intake, the queue, acknowledgement and resolution."""
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from services.support.contract.schemas import (AcknowledgeSchema, CreateTicketSchema, ResolveSchema,
                                               TicketFilterSchema, TicketSchema)

TAG = "Support"


class SupportRoutes(Routes):
    @route("POST", "/api/v1/support/tickets", summary="Raise a support ticket", tags=[TAG],
           body=CreateTicketSchema, response=TicketSchema, status=201, max_body=256 * 1024)
    def create_ticket(self, request):
        identity = self.identity
        data = self.checked_body(request, CreateTicketSchema)
        self.check_store(identity, data.get("store_id"), data.get("merchant_id"))
        return 201, self.support.create_ticket(data)

    @route("GET", "/api/v1/support/tickets", summary="The support queue, filtered", tags=[TAG],
           query=TicketFilterSchema, response=page_of(TicketSchema))
    def list_tickets(self, request):
        self.identity
        return self.support.list_tickets(self.checked_query(request, TicketFilterSchema))

    @route("GET", "/api/v1/support/tickets/<string:reference>", summary="One ticket, e.g. SUP-104",
           tags=[TAG], response=TicketSchema)
    def get_ticket(self, request, reference):
        self.identity
        return self.support.get_ticket(reference, request.args.get("merchant_id"))

    @route("POST", "/api/v1/support/tickets/<string:reference>/acknowledgement",
           summary="Acknowledge a ticket (within two hours, or it is overdue)", tags=[TAG],
           body=AcknowledgeSchema, response=TicketSchema)
    def acknowledge_ticket(self, request, reference):
        self.identity
        return self.support.acknowledge_ticket(reference, self.checked_body(request, AcknowledgeSchema),
                                               request.args.get("merchant_id"))

    @route("POST", "/api/v1/support/tickets/<string:reference>/resolution",
           summary="Resolve a ticket: No Action, Cancel, Refund or Replace", tags=[TAG],
           body=ResolveSchema, response=TicketSchema)
    def resolve_ticket(self, request, reference):
        self.identity
        return self.support.resolve_ticket(reference, self.checked_body(request, ResolveSchema),
                                           request.args.get("merchant_id"))
