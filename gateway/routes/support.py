"""The support desk: intake (also ``POST /api/support``), the queue and its views, one sub-resource
per action on a ticket, agents, the dashboard, chat, canned responses, SLA policies, attachments."""
import base64

from marshmallow import Schema, ValidationError, fields
from werkzeug.wrappers import Response

from gateway.http import forward, route
from gateway.routes.base import Routes, read_field
from gateway.schemas import page_of
from plumbing.auth import CLIENT_ROLES
from plumbing.errors import NotFound, ValidationFailed
from plumbing.fields import MerchantQuery
from services.support.contract.schemas import (AcknowledgeSchema, AgentUpdateSchema, AssignmentSchema,
                                               CannedResponseSchema, CascadeSchema, ClosureSchema,
                                               ConversationFilterSchema, ConversationMessageSchema,
                                               ConversationTicketSchema, CountsQuerySchema, CreateTicketSchema,
                                               DashboardQuerySchema, MergeSchema, MessageSchema, PartnerUpdateSchema,
                                               RatingSchema, ResolveSchema, SlaSettingsSchema,
                                               StartConversationSchema, TicketFilterSchema, TicketReasonSchema,
                                               TicketSchema)
from plumbing.fields import MerchantQuery

TAG = "Support"
TICKET = "/api/v1/support/tickets/<string:reference>"
CONVERSATION = "/api/v1/support/conversations/<uuid:conversation_id>"
DOWNLOAD_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"


class AttachmentSchema(Schema):
    id = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()


class SupportRoutes(Routes):
    # -- intake ------------------------------------------------------------------------------------
    def _check_references(self, data):
        """Stores (the gateway owns them), a campaign and (for staff) a voucher named by a ticket must be
        the merchant's own: another merchant's is refused (422) before anything is stored."""
        identity = self.identity
        try:
            merchant_id = read_field(CreateTicketSchema, "merchant_id", data) or identity.merchant_id
            refs = read_field(CreateTicketSchema, "refs", data) or {}
        except ValidationError:
            return  # the service names what does not load
        try:
            self.check_stores(identity, data, CreateTicketSchema)
            self.check_store(identity, refs.get("store_id"), merchant_id)
        except NotFound as error:
            raise ValidationFailed(error.message, code="store_not_found",
                                   fields={"store_id": ["Not a store of this merchant."]})
        if refs.get("voucher_code") and identity.role not in CLIENT_ROLES:
            try:
                self.redemption.get_voucher(refs["voucher_code"], merchant_id if identity.is_platform else None)
            except (NotFound, ValidationFailed):
                raise ValidationFailed("No voucher %s at this merchant" % refs["voucher_code"],
                                       code="voucher_not_found",
                                       fields={"refs.voucher_code": ["Not a voucher of this merchant."]})
        if refs.get("campaign_id"):
            if identity.role in CLIENT_ROLES:
                raise ValidationFailed("Campaign references are for the merchant's staff", code="campaign_not_found",
                                       fields={"refs.campaign_id": ["Not allowed for an API client."]})
            try:
                self.campaign.get_campaign(refs["campaign_id"], merchant_id if identity.is_platform else None)
            except NotFound as error:
                raise ValidationFailed(error.message, code="campaign_not_found",
                                       fields={"refs.campaign_id": ["Not a campaign of this merchant."]})

    @route("POST", "/api/v1/support/tickets", summary="Raise a support ticket (portal, store staff, buyer app, "
           "logistics partner)", tags=[TAG], body=CreateTicketSchema, response=TicketSchema, status=201,
           max_body=256 * 1024)
    def create_ticket(self, request):
        data = self.body(request)
        self._check_references(data)
        return 201, self.support.create_ticket(data)

    @route("POST", "/api/support", summary="Raise a support ticket (the portal form's address; same as "
           "POST /api/v1/support/tickets)", tags=[TAG], body=CreateTicketSchema, response=TicketSchema, status=201,
           max_body=256 * 1024)
    def create_ticket_from_portal(self, request):
        return self.create_ticket(request)

    @route("POST", "/api/v1/support/attachments", summary="Upload a file (image or PDF, checked by content, "
           "at most 5 MB) to raise a ticket with (attachment_ids)", tags=[TAG], response=AttachmentSchema,
           status=201, upload=True)
    def upload_loose_attachment(self, request):
        return 201, self._upload(request, None)

    @staticmethod
    def _file_of(request):
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("Send the file as multipart/form-data, field 'file'", code="file_missing",
                                   fields={"file": ["Missing."]})
        return upload.filename or "", base64.b64encode(upload.read(5 * 1024 * 1024 + 1)).decode()

    def _upload(self, request, reference):
        filename, content = self._file_of(request)
        return self.support.upload_attachment(reference, filename, content, request.args.get("merchant_id"))

    @staticmethod
    def _download(found):
        name = found["filename"].replace('"', "")
        return Response(base64.b64decode(found["content"]), mimetype=found["content_type"], headers={
            "Content-Disposition": 'attachment; filename="%s"' % name, "Content-Security-Policy": DOWNLOAD_POLICY,
            "Cache-Control": "private, no-store"})

    # -- the queue -----------------------------------------------------------------------------------
    list_tickets = forward(
        "GET", "/api/v1/support/tickets", "support.list_tickets",
        summary="The queue with the panel's filters (store, assigned_to, unassigned, category, overdue, "
                "unacknowledged, mine, submitted_by_me) and view_by; platform support: escalated tickets",
        tags=[TAG], query=TicketFilterSchema, response=page_of(TicketSchema))

    ticket_counts = forward(
        "GET", "/api/v1/support/tickets/counts", "support.ticket_counts",
        summary="Tickets per status, overdue and logistics state (the portal's status mix)", tags=[TAG],
        query=CountsQuerySchema)

    get_ticket = forward(
        "GET", TICKET, "support.get_ticket", merchant_id=True,
        summary="One ticket, e.g. SUP-104, with the threads the caller may read", tags=[TAG], response=TicketSchema)

    # -- one sub-resource per action -------------------------------------------------------------------
    assign_ticket = forward(
        "PUT", TICKET + "/assignment", "support.assign_ticket", merchant_id=True,
        summary="Assign, reassign or (null) unassign", tags=[TAG], body=AssignmentSchema, response=TicketSchema)

    acknowledge_ticket = forward(
        "POST", TICKET + "/acknowledgement", "support.acknowledge_ticket", merchant_id=True,
        summary="Acknowledge: Open -> Processing, with the ETA the buyer is told", tags=[TAG],
        body=AcknowledgeSchema, response=TicketSchema)

    post_message = forward(
        "POST", TICKET + "/messages", "support.post_message", merchant_id=True,
        summary="Post on the Main (with the requester) or Internal (staff only) thread; a staff reply on Main "
                "acknowledges", tags=[TAG], body=MessageSchema, response=TicketSchema, max_body=64 * 1024)

    escalate_ticket = forward(
        "POST", TICKET + "/escalation", "support.escalate_ticket", merchant_id=True,
        summary="Escalate one step: store user -> owner -> platform support -> IT support", tags=[TAG],
        body=TicketReasonSchema, response=TicketSchema)

    cascade_ticket = forward(
        "POST", TICKET + "/cascade", "support.cascade_ticket", merchant_id=True,
        summary="Cascade an on-network delivery issue to the logistics partner", tags=[TAG], body=CascadeSchema,
        response=TicketSchema)

    partner_update = forward(
        "PUT", TICKET + "/cascade", "support.partner_update", merchant_id=True,
        summary="The logistics partner's state: pending, processing (with ETA), resolved", tags=[TAG],
        body=PartnerUpdateSchema, response=TicketSchema)

    resolve_ticket = forward(
        "POST", TICKET + "/resolution", "support.resolve_ticket", merchant_id=True,
        summary="Resolve: No Action, Cancel, Refund (with amount), Replace or Return", tags=[TAG],
        body=ResolveSchema, response=TicketSchema)

    close_ticket = forward(
        "POST", TICKET + "/closure", "support.close_ticket", merchant_id=True,
        summary="Close (the buyer, from the app), with an optional rating", tags=[TAG], body=ClosureSchema,
        response=TicketSchema)

    reopen_ticket = forward(
        "POST", TICKET + "/reopening", "support.reopen_ticket", merchant_id=True,
        summary="Reopen within the merchant's window (the buyer)", tags=[TAG], body=TicketReasonSchema,
        response=TicketSchema)

    merge_ticket = forward(
        "POST", TICKET + "/merge", "support.merge_ticket", merchant_id=True,
        summary="Merge this duplicate into another open ticket", tags=[TAG], body=MergeSchema, response=TicketSchema)

    rate_ticket = forward(
        "POST", TICKET + "/rating", "support.rate_ticket", merchant_id=True,
        summary="Rate the resolution (CSAT, 1-5)", tags=[TAG], body=RatingSchema, response=TicketSchema)

    ticket_history = forward(
        "GET", TICKET + "/history", "support.ticket_history", merchant_id=True,
        summary="Every change, who (user and role) and when: append-only (owners and admins)", tags=[TAG])

    @route("POST", TICKET + "/attachments", summary="Attach an image or PDF (checked by content, at most 5 MB)",
           tags=[TAG], response=AttachmentSchema, status=201, upload=True)
    def add_attachment(self, request, reference):
        return 201, self._upload(request, reference)

    @route("GET", TICKET + "/attachments/<uuid:attachment_id>", summary="An attachment, to those who may see "
           "the ticket", tags=[TAG], query=MerchantQuery, content_type="application/octet-stream")
    def get_attachment(self, request, reference, attachment_id):
        return self._download(self.support.get_attachment(reference, str(attachment_id),
                                                          request.args.get("merchant_id")))

    # -- the desk ----------------------------------------------------------------------------------------
    list_agents = forward(
        "GET", "/api/v1/support/agents", "support.list_agents",
        summary="The agents who may take tickets, with open-ticket counts, capacity and availability",
        tags=[TAG], query=CountsQuerySchema)

    update_agent = forward(
        "PATCH", "/api/v1/support/agents/<uuid:user_id>", "support.update_agent",
        summary="An agent's capacity (owner) and availability (owner, or the agent)", tags=[TAG],
        body=AgentUpdateSchema)

    dashboard = forward(
        "GET", "/api/v1/support/dashboard", "support.dashboard",
        summary="KPIs: SLA attainment %, open, critical, overdue, average first response and resolution, CSAT; "
                "per store and category", tags=[TAG], query=DashboardQuerySchema)

    get_sla_policies = forward(
        "GET", "/api/v1/support/sla-policies", "support.get_sla_settings", merchant_id=True,
        summary="SLA policies, business hours, holidays, time zones, automatic assignment", tags=[TAG],
        response=SlaSettingsSchema)

    set_sla_policies = forward(
        "PUT", "/api/v1/support/sla-policies", "support.set_sla_settings",
        summary="Set SLA policies by priority and category, business hours (several intervals a day), holidays, "
                "time zones, automatic assignment (off, round_robin, least_loaded)", tags=[TAG],
        body=SlaSettingsSchema, response=SlaSettingsSchema)

    list_canned_responses = forward(
        "GET", "/api/v1/support/canned-responses", "support.list_canned_responses", merchant_id=True,
        summary="The merchant's canned responses", tags=[TAG])

    create_canned_response = forward(
        "POST", "/api/v1/support/canned-responses", "support.create_canned_response",
        summary="Add a canned response", tags=[TAG], body=CannedResponseSchema, response=CannedResponseSchema,
        status=201)

    update_canned_response = forward(
        "PUT", "/api/v1/support/canned-responses/<uuid:response_id>", "support.update_canned_response",
        merchant_id=True, summary="Change a canned response's title and text", tags=[TAG], body=CannedResponseSchema,
        response=CannedResponseSchema)

    delete_canned_response = forward(
        "DELETE", "/api/v1/support/canned-responses/<uuid:response_id>", "support.delete_canned_response",
        merchant_id=True, summary="Remove a canned response", tags=[TAG], status=204)

    # -- chat ---------------------------------------------------------------------------------------------
    list_conversations = forward(
        "GET", "/api/v1/support/conversations", "support.list_conversations",
        summary="The chat inbox (staff), or the customer's conversations (buyer app)", tags=[TAG],
        query=ConversationFilterSchema)

    start_conversation = forward(
        "POST", "/api/v1/support/conversations", "support.start_conversation",
        summary="Start a conversation: a customer from the buyer app, or staff from a customer's page", tags=[TAG],
        body=StartConversationSchema, status=201)

    get_conversation = forward(
        "GET", "/api/v1/support/conversations/<uuid:conversation_id>", "support.get_conversation",
        merchant_id=True, summary="One conversation with its messages", tags=[TAG])

    post_conversation_message = forward(
        "POST", "/api/v1/support/conversations/<uuid:conversation_id>/messages",
        "support.post_conversation_message", merchant_id=True,
        summary="Reply in a conversation (an offline customer is emailed)", tags=[TAG],
        body=ConversationMessageSchema)

    conversation_to_ticket = forward(
        "POST", "/api/v1/support/conversations/<uuid:conversation_id>/ticket", "support.conversation_to_ticket",
        merchant_id=True, summary="Turn a conversation into a ticket", tags=[TAG], body=ConversationTicketSchema,
        response=TicketSchema, status=201)

    @route("POST", CONVERSATION + "/attachments", summary="Upload an image or PDF to send in a chat message "
           "(checked by content, at most 5 MB; then name it in the message's attachment_ids)", tags=[TAG],
           query=MerchantQuery, response=AttachmentSchema, status=201, upload=True)
    def add_conversation_attachment(self, request, conversation_id):
        filename, content = self._file_of(request)
        return 201, self.support.upload_conversation_attachment(str(conversation_id), filename, content,
                                                                request.args.get("merchant_id"))

    @route("GET", CONVERSATION + "/attachments/<uuid:attachment_id>", summary="A chat file, to the "
           "conversation's participants only", tags=[TAG], query=MerchantQuery,
           content_type="application/octet-stream")
    def get_conversation_attachment(self, request, conversation_id, attachment_id):
        return self._download(self.support.get_conversation_attachment(str(conversation_id), str(attachment_id),
                                                                       request.args.get("merchant_id")))
