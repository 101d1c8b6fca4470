"""The support service: tickets raised by merchants, staff and the platform itself."""
from plumbing.auth import BACK_OFFICE, MERCHANT_STAFF, STORE_USER, Identity
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, NotFound
from plumbing.events import event_handler
from plumbing.fields import new_id, utcnow
from plumbing.idempotency import idempotent
from plumbing.service import ServiceBase
from plumbing.validation import load
from services.settlement.contract.events import ExceptionRaised
from services.support import domain, storage
from services.support.contract.events import TicketAcknowledged, TicketCreated, TicketResolved
from services.support.contract.schemas import (AcknowledgeSchema, CreateTicketSchema, ResolveSchema,
                                               TicketFilterSchema, TicketSchema)


def dump_ticket(row, now=None):
    return TicketSchema().dump(dict(row, status=domain.display_status(row, now or utcnow())))


def dump_message(row):
    return {"id": str(row["id"]), "thread": row["thread"], "author": row["author"],
            "body": row["body"], "created_at": row["created_at"].isoformat()}


class SupportService(ServiceBase):
    name = "support"

    def _open_ticket(self, merchant_id, fields, raised_by, source_event_id=None):
        now = utcnow()
        number = storage.next_number(self.db, merchant_id)
        ticket = dict(fields, id=new_id(), merchant_id=merchant_id, number=number,
                      reference=domain.reference(number), status="open", raised_by=raised_by,
                      source_event_id=source_event_id, created_at=now, ack_due_at=domain.ack_due(now),
                      acknowledged_at=None, resolved_at=None, resolution=None, assignee=None)
        if not storage.insert_ticket(self.db, ticket):
            return None
        storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "main",
                                      "author": raised_by, "body": ticket["description"]})
        storage.audit(self.db, ticket["id"], raised_by, "created",
                      {"priority": ticket["priority"], "category": ticket["category"]})
        self.events.emit(TicketCreated.of(
            ticket_id=ticket["id"], reference=ticket["reference"], merchant_id=merchant_id,
            subject=ticket["subject"], category=ticket["category"], priority=ticket["priority"],
            source=ticket["source"], store_id=ticket["store_id"], refs=ticket["refs"], created_at=now,
            ack_due_at=ticket["ack_due_at"]))
        self.metrics.count("vowrewards_tickets_created_total", "Support tickets opened",
                           priority=ticket["priority"], category=ticket["category"])
        return ticket

    @rpc
    @idempotent
    def create_ticket(self, data):
        """Intake from the portal (the old ``/api/support`` form)."""
        identity = self.caller.require(*MERCHANT_STAFF)
        data = load(CreateTicketSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        if identity.role == STORE_USER:
            data["store_id"] = identity.store_id
        data["source"] = identity.role
        ticket = self._open_ticket(merchant_id, data, identity.actor())
        return dump_ticket(ticket)

    @event_handler(ExceptionRaised)
    def open_ticket_for_settlement_exception(self, event):
        """A settlement exception opens a Critical ticket carrying its references."""
        fields = domain.ticket_from_settlement_exception(event)
        raised_by = Identity.system(ExceptionRaised.event_source).actor()
        self._open_ticket(event.merchant_id, fields, raised_by, source_event_id=event.exception_id)

    @rpc
    def list_tickets(self, filters=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        merchant_id, filters = self.scoped(identity, TicketFilterSchema, filters)
        if identity.role == STORE_USER:
            filters["store_id"] = identity.store_id
        now = utcnow()
        return storage.list_tickets(self.db, merchant_id, filters, lambda row: dump_ticket(row, now))

    def _ticket_for(self, identity, reference, merchant_id=None, lock=False):
        merchant_id = identity.merchant_scope(merchant_id)
        ticket = storage.ticket_by_reference(self.db, merchant_id, reference, lock=lock)
        if ticket is None or (identity.role == STORE_USER and str(ticket["store_id"]) != identity.store_id):
            raise NotFound("No ticket %s" % reference, code="ticket_not_found")
        return ticket

    @rpc
    def get_ticket(self, reference, merchant_id=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        ticket = self._ticket_for(identity, reference, merchant_id)
        threads = ("main", "internal") if identity.role in BACK_OFFICE else ("main",)
        result = dump_ticket(ticket)
        result["messages"] = [dump_message(m) for m in storage.messages(self.db, ticket["id"], threads)]
        if identity.role in BACK_OFFICE:
            result["audit"] = [{"actor": a["actor"], "action": a["action"], "details": a["details"],
                                "at": a["at"].isoformat()} for a in storage.audit_trail(self.db, ticket["id"])]
        return result

    @rpc
    @idempotent
    def acknowledge_ticket(self, reference, data, merchant_id=None):
        identity = self.caller.require(*BACK_OFFICE)
        data = load(AcknowledgeSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        if ticket["acknowledged_at"] is not None:
            raise Conflict("%s is already acknowledged" % reference, code="already_acknowledged")
        storage.acknowledge(self.db, ticket["id"])
        storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "main",
                                      "author": identity.actor(), "body": data["remarks"]})
        storage.audit(self.db, ticket["id"], identity.actor(), "acknowledged")
        self.events.emit(TicketAcknowledged.of(ticket_id=ticket["id"], reference=reference,
                                               merchant_id=ticket["merchant_id"]))
        return self.get_ticket(reference, merchant_id)

    @rpc
    @idempotent
    def resolve_ticket(self, reference, data, merchant_id=None):
        identity = self.caller.require(*BACK_OFFICE)
        data = load(ResolveSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        if ticket["status"] in ("resolved", "closed"):
            raise Conflict("%s is already %s" % (reference, ticket["status"]), code="ticket_closed")
        resolution = dict(data, resolved_by=identity.actor())
        storage.resolve(self.db, ticket["id"], resolution)
        storage.audit(self.db, ticket["id"], identity.actor(), "resolved",
                      {"action": data["action"], "remarks": data.get("remarks")})
        self.events.emit(TicketResolved.of(
            ticket_id=ticket["id"], reference=reference, merchant_id=ticket["merchant_id"], action=data["action"],
            resolution=data["resolution"], refs=ticket["refs"], resolved_by=identity.actor()))
        return self.get_ticket(reference, merchant_id)
