"""The support service: the desk a merchant's team runs its day on.

Tickets come from the buyer app (acting for a customer), the portal, store staff, logistics partners,
email (notification's ``email_received``) and the system (settlement exceptions). Each action is a
checked transition of the ticket's state machine (``domain.TRANSITIONS``), audited, and announced by
a typed event through the outbox in the same transaction. The SLA clock (``sla``) sets deadlines in
business time; a timer flags breaches.
"""
import base64
from datetime import date, timedelta

from nameko.timer import timer

from plumbing.auth import (ADMIN, BACK_OFFICE, BUYER_APP, IT_SUPPORT, LOGISTICS_PARTNER, OWNER, OWNERS, STORE_USER,
                           SUPPORT_AGENT, Identity)
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from plumbing.events import event_handler
from plumbing.fields import new_id, utcnow
from plumbing.idempotency import idempotent
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from plumbing.validation import load, require_id
from services.notification.contract.events import EmailReceived
from services.settlement.contract.events import ExceptionRaised
from services.support import attachments, domain, sla, storage
from services.support.contract.events import (ConversationMessage, MessagePosted, TicketAcknowledged, TicketAssigned,
                                              TicketCascaded, TicketClosed, TicketCreated, TicketEscalated,
                                              TicketOverdue, TicketReopened, TicketResolved)
from services.support.contract.schemas import (AcknowledgeSchema, AgentUpdateSchema, AssignmentSchema,
                                               CannedResponseSchema, CascadeSchema, ClosureSchema,
                                               ConversationFilterSchema, ConversationMessageSchema,
                                               ConversationTicketSchema, CountsQuerySchema, CreateTicketSchema,
                                               DashboardQuerySchema, MergeSchema, MessageSchema, PartnerUpdateSchema,
                                               RatingSchema, ResolveSchema, SlaSettingsSchema,
                                               StartConversationSchema, TicketFilterSchema, TicketReasonSchema,
                                               TicketSchema)

CUSTOMER_ONLINE = timedelta(minutes=5)  # a customer seen in the app this lately is not emailed
OVERDUE_SWEEP_SECONDS = 10  # breaches are flagged well within a minute of the deadline


def dump_ticket(row):
    return TicketSchema().dump(row)


def dump_message(row, files=()):
    ids = [str(i) for i in row.get("attachment_ids") or ()]
    return {"id": str(row["id"]), "thread": row["thread"], "author": row["author"], "body": row["body"],
            "attachments": [f for f in files if f["id"] in ids], "created_at": row["created_at"].isoformat()}


def dump_file(row):
    return {"id": str(row["id"]), "filename": row["filename"], "content_type": row["content_type"],
            "size": row["size"], "created_at": row["created_at"].isoformat()}


def dump_conversation(row):
    return {"id": str(row["id"]), "merchant_id": str(row["merchant_id"]), "customer_id": str(row["customer_id"]),
            "store_id": str(row["store_id"]) if row["store_id"] else None, "status": row["status"],
            "ticket_reference": row["ticket_reference"], "last_message_at": row["last_message_at"].isoformat(),
            "created_at": row["created_at"].isoformat()}


def seconds_or_none(minutes):
    return None if minutes is None else int(minutes) * 60


class SupportService(ServiceBase):
    name = "support"
    gateway = RpcProxy("gateway")
    files = attachments.AttachmentStore()

    # -- helpers ------------------------------------------------------------------------------
    def _settings(self, merchant_id):
        return storage.settings(self.db, merchant_id)

    def _clock(self, ticket, settings, now):
        """The ticket's deadlines under its merchant's policy and calendar (store's time zone)."""
        policy = sla.policy_for(settings.get("policies") or [], ticket["priority"], ticket["category"])
        calendar = sla.calendar_for(settings, ticket.get("store_id"))
        pauses = [(p[0], p[1]) for p in ticket.get("pauses") or ()]
        start = ticket["created_at"]
        first = sla.deadline(calendar, start, policy["first_response_minutes"] * 60, pauses)
        resolution = seconds_or_none(policy["resolution_minutes"])
        return {"ack_due_at": first or ticket.get("ack_due_at") or start,
                "resolution_due_at": sla.deadline(calendar, start, resolution, pauses) if resolution else None,
                "policy": policy, "calendar": calendar}

    def _emit(self, event_class, ticket, actor, **extra):
        ticket = storage.ticket_by_id(self.db, ticket["id"])
        self.events.emit(event_class.of(
            ticket_id=ticket["id"], reference=ticket["reference"], merchant_id=ticket["merchant_id"],
            store_id=ticket["store_id"], priority=ticket["priority"], category=ticket["category"],
            status=ticket["status"], assignee_id=ticket["assignee_id"], requester=ticket["requester"],
            actor=actor, **extra))
        return ticket

    def _ticket_for(self, identity, reference, merchant_id=None, lock=False):
        merchant_id = identity.merchant_scope(merchant_id)
        ticket = storage.ticket_by_reference(self.db, merchant_id, str(reference), lock=lock)
        if ticket is None or not domain.visible_to(identity, ticket):
            raise domain.not_found(reference)
        return ticket

    def _caller(self, *roles):
        identity = self.caller.require(*roles)
        if identity.role == BUYER_APP and identity.customer_id is None:
            raise Forbidden("A buyer app acts for a customer: name one", code="customer_required")
        return identity

    # -- intake -------------------------------------------------------------------------------
    def _open_ticket(self, merchant_id, fields, identity, source_event_id=None, attachment_ids=()):
        now = utcnow()
        number = storage.next_number(self.db, merchant_id)
        requester = fields.pop("requester", None) or domain.requester_of(identity)
        ticket = dict(fields, id=new_id(), merchant_id=merchant_id, number=number,
                      reference=domain.reference(number), status="open", raised_by=identity.actor(),
                      requester=requester, source_event_id=source_event_id, created_at=now, pauses=[])
        ticket.setdefault("customer_id", None)
        ticket["duplicate_of"] = (storage.open_duplicate(self.db, merchant_id, ticket["customer_id"],
                                                         ticket.get("order_id"), ticket["category"]) or {}).get(
                                                             "reference")
        settings = self._settings(merchant_id)
        ticket.update({k: v for k, v in self._clock(ticket, settings, now).items() if k.endswith("_at")})
        if not storage.insert_ticket(self.db, ticket):
            return None
        if attachment_ids:
            claimed = storage.claim_attachments(self.db, merchant_id, attachment_ids, ticket["id"], identity.user_id)
            if claimed != len(set(attachment_ids)):
                raise ValidationFailed("Some attachments are not yours to attach", code="attachment_not_found",
                                       fields={"attachment_ids": ["Upload each file first, as the same caller."]})
        storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "main",
                                      "author": identity.actor(), "body": ticket["description"],
                                      "attachment_ids": list(attachment_ids)})
        storage.audit(self.db, ticket["id"], identity.actor(), "created",
                      {"priority": ticket["priority"], "category": ticket["category"], "source": ticket["source"],
                       "duplicate_of": ticket["duplicate_of"]})
        self._emit(TicketCreated, ticket, identity.actor(), subject=ticket["subject"], source=ticket["source"],
                   refs=ticket["refs"], created_at=now, ack_due_at=ticket["ack_due_at"])
        if settings["assignment_mode"] != "off":
            self._auto_assign(ticket)
        self.metrics.count("vowrewards_tickets_created_total", "Support tickets opened",
                           priority=ticket["priority"], category=ticket["category"])
        return storage.ticket_by_id(self.db, ticket["id"])

    def _auto_assign(self, ticket):
        """Give the ticket to the next agent, deciding under the merchant's row lock: a burst of
        tickets is handed out one at a time and nobody goes above their capacity."""
        mode = storage.lock_assignment(self.db, ticket["merchant_id"])
        if mode == "off":
            return
        chosen = storage.pick_agent(self.db, ticket["merchant_id"], mode)
        if chosen is None:
            return  # everyone is full or away: the ticket waits in the unassigned view
        system = Identity.system(self.name).actor()
        self._set_assignee(ticket, chosen["user_id"], chosen["username"], system, automatic=mode)

    def _set_assignee(self, ticket, user_id, username, actor, automatic=None):
        previous = ticket.get("assignee_id")
        assignee = {"user_id": str(user_id), "username": username} if user_id else None
        storage.update_ticket(self.db, ticket["id"], {"assignee_id": user_id, "assignee": assignee})
        if user_id:
            storage.mark_assigned(self.db, ticket["merchant_id"], user_id)
        storage.audit(self.db, ticket["id"], actor, "assigned" if user_id else "unassigned",
                      {"assignee_id": str(user_id) if user_id else None,
                       "previous": str(previous) if previous else None, "automatic": automatic})
        self._emit(TicketAssigned, ticket, actor, previous_assignee_id=previous)

    @rpc
    @idempotent
    def create_ticket(self, data):
        """Intake: the portal (also ``POST /api/support``), store staff, a buyer app acting for its
        customer, a logistics partner. The gateway has vouched for the stores and campaign named."""
        identity = self._caller(*domain.RAISERS)
        data = load(CreateTicketSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        attachment_ids = [str(i) for i in data.pop("attachment_ids")]
        if identity.role == STORE_USER:
            data["store_id"] = identity.store_id
        if identity.role in (BUYER_APP, LOGISTICS_PARTNER) and data["priority"] == "critical":
            data["priority"] = "high"  # critical is the desk's call, not the requester's
        domain.check_buyer_issue(data, len(attachment_ids))
        data["source"] = domain.source_of(identity)
        data["customer_id"] = identity.customer_id if identity.role == BUYER_APP else None
        if identity.role == LOGISTICS_PARTNER:
            data["partner_client_id"] = identity.user_id
        ticket = self._open_ticket(merchant_id, data, identity, attachment_ids=attachment_ids)
        return self._shown(identity, ticket)

    @event_handler(ExceptionRaised)
    def open_ticket_for_settlement_exception(self, event):
        """A settlement exception opens a Critical ticket carrying its references."""
        fields = domain.ticket_from_settlement_exception(event)
        system = Identity.system(ExceptionRaised.event_source)
        self._open_ticket(event.merchant_id, fields, system, source_event_id=event.exception_id)

    @event_handler(EmailReceived)
    def take_in_email(self, event):
        """Mail to a merchant's support address: a reply on a ticket's Main thread, a message in a
        chat conversation, or a new ticket (source ``email``). Redelivery adds nothing twice."""
        author = {"user_id": "email:" + event.from_address, "username": event.from_name or event.from_address,
                  "role": "email"}
        if event.ticket_reference:
            ticket = storage.ticket_by_reference(self.db, event.merchant_id, event.ticket_reference, lock=True)
            if ticket is not None and ticket["status"] != "closed":
                if storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "main",
                                                 "author": author, "body": event.body,
                                                 "source_mail_id": event.mail_id}):
                    self._requester_answered(ticket, author)
                return
        if event.conversation_id:
            conversation = storage.conversation(self.db, event.merchant_id, event.conversation_id)
            if conversation is not None:
                storage.add_conversation_message(self.db, {
                    "id": new_id(), "conversation_id": conversation["id"], "author_kind": "customer",
                    "author": author, "body": event.body, "source_mail_id": event.mail_id})
                return
        fields = {"subject": (event.subject or "Email from %s" % event.from_address)[:200],
                  "description": event.body or "(empty message)", "category": "other", "priority": "normal",
                  "source": "email", "store_id": None, "refs": {},
                  # not "customer": that kind's id is a customer's uuid, which readers look up
                  "requester": {"kind": "email", "id": event.from_address}}
        self._open_ticket(event.merchant_id, fields, Identity.system("notification"), source_event_id=event.mail_id)

    # -- reading ----------------------------------------------------------------------------------
    def _shown(self, identity, ticket):
        result = dump_ticket(ticket)
        if identity.role in (BUYER_APP, LOGISTICS_PARTNER):
            for private in ("assignee", "assignee_id", "raised_by", "escalation_level", "duplicate_of"):
                result.pop(private, None)
        return result

    @rpc
    def get_ticket(self, reference, merchant_id=None):
        identity = self._caller(*domain.STAFF, BUYER_APP, LOGISTICS_PARTNER)
        ticket = self._ticket_for(identity, reference, merchant_id)
        result = self._shown(identity, ticket)
        files = [dump_file(f) for f in storage.attachments_of(self.db, ticket["id"])]
        messages = storage.messages(self.db, ticket["id"], domain.threads_for(identity))
        result["messages"] = [dump_message(m, files) for m in messages]
        shown_ids = {a["id"] for m in result["messages"] for a in m["attachments"]}
        loose = [f for f in files if f["id"] not in shown_ids]
        internal_files = {str(i) for m in storage.messages(self.db, ticket["id"], ("internal",))
                          for i in m["attachment_ids"] or ()}
        result["attachments"] = [f for f in loose if domain.reads_internal(identity) or f["id"] not in internal_files]
        if identity.role in BACK_OFFICE:
            result["audit"] = [{"actor": a["actor"], "action": a["action"], "details": a["details"],
                                "at": a["at"].isoformat()} for a in storage.audit_trail(self.db, ticket["id"])]
        return result

    @rpc
    def list_tickets(self, filters=None):
        identity = self._caller(*domain.STAFF, BUYER_APP, LOGISTICS_PARTNER)
        filters = load(TicketFilterSchema, filters or {})
        requested = filters.pop("merchant_id")
        if identity.role == STORE_USER:
            filters["store_id"] = identity.store_id  # whatever store they name, theirs
        where, params = storage.ticket_conditions(filters, identity.user_id)
        if identity.role in domain.ESCALATION_TEAMS or (identity.role == ADMIN and filters.get("escalated")):
            # the platform's cross-merchant queue: escalated tickets only
            levels = (IT_SUPPORT,) if identity.role == IT_SUPPORT else domain.ESCALATION_TEAMS
            where.append("escalation_level = ANY(%s)")
            params.append(list(levels))
            if requested:
                where.append("merchant_id = %s")
                params.append(require_id(requested, "merchant_id"))
        else:
            where.append("merchant_id = %s")
            params.append(identity.merchant_scope(requested))
            if identity.role == BUYER_APP:
                where.append("customer_id = %s")
                params.append(identity.customer_id)
            elif identity.role == LOGISTICS_PARTNER:
                where.append("partner_client_id = %s")
                params.append(identity.user_id)
        return storage.list_tickets(self.db, where, params, filters, lambda row: self._shown(identity, row))

    @rpc
    def ticket_counts(self, query=None):
        """Tickets per status (and overdue, and the partner's states) for the portal's status mix."""
        identity = self.caller.require(*domain.DESK)
        query = load(CountsQuerySchema, query or {})
        merchant_id = identity.merchant_scope(query["merchant_id"])
        store_id = identity.store_id if identity.role == STORE_USER else query["store_id"]
        return storage.status_counts(self.db, merchant_id, store_id)

    @rpc
    def ticket_history(self, reference, merchant_id=None):
        """Every change to the ticket, oldest first: who (user and role), what, when. Append-only."""
        identity = self.caller.require(*OWNERS)
        ticket = self._ticket_for(identity, reference, merchant_id)
        return {"items": [{"actor": a["actor"], "action": a["action"], "details": a["details"],
                           "at": a["at"].isoformat()} for a in storage.audit_trail(self.db, ticket["id"])],
                "next": None}

    # -- the lifecycle ---------------------------------------------------------------------------
    def _first_response(self, ticket, changes, now):
        if ticket["first_response_at"] is None:
            changes["first_response_at"] = now
        if ticket["status"] == "open" and ticket["acknowledged_at"] is None:
            changes.update(status="processing", acknowledged_at=now)
        changes["next_response_due_at"] = None
        self._clear_overdue(ticket, changes, now)

    def _clear_overdue(self, ticket, changes, now):
        """The flag stays only while a deadline is still missed after this change."""
        if ticket["overdue"] and domain.breach(dict(ticket, **changes), now) is None:
            changes.update(overdue=False, overdue_reason=None)

    @rpc
    @idempotent
    def acknowledge_ticket(self, reference, data, merchant_id=None):
        identity = self.caller.require(*domain.RESOLVERS)
        data = load(AcknowledgeSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        if ticket["acknowledged_at"] is not None and ticket["status"] == "processing":
            raise Conflict("%s is processing: it is already acknowledged" % reference, code="illegal_transition",
                           fields={"status": [ticket["status"]]})
        domain.check_transition(ticket, "acknowledge")
        now = utcnow()
        if ticket["customer_id"] is not None and data["eta"] is None:
            raise ValidationFailed("Tell the buyer when to expect a resolution", code="eta_required",
                                   fields={"eta": ["Required when a buyer raised the ticket."]})
        if data["eta"] is not None and data["eta"] <= now:
            raise ValidationFailed("The ETA must be in the future", fields={"eta": ["Must be in the future."]})
        changes = {"eta": data["eta"]}
        self._first_response(ticket, changes, now)
        changes.update(status="processing", acknowledged_at=now)
        storage.update_ticket(self.db, ticket["id"], changes)
        storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "main",
                                      "author": identity.actor(), "body": data["remarks"]})
        storage.audit(self.db, ticket["id"], identity.actor(), "acknowledged", {"eta": data["eta"]})
        self._emit(TicketAcknowledged, ticket, identity.actor(), eta=data["eta"])
        return self.get_ticket(reference, merchant_id)

    @rpc
    @idempotent
    def resolve_ticket(self, reference, data, merchant_id=None):
        identity = self.caller.require(*domain.RESOLVERS)
        data = load(ResolveSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        domain.check_transition(ticket, "resolve")
        if data["action"] == "refund":
            items_total = sum(item["order_value"] for item in ticket["issue_items"] or ())
            if items_total and data["refund_amount"] > items_total:
                raise ValidationFailed("A refund cannot exceed the order value of the issue items (%d)" % items_total,
                                       fields={"refund_amount": ["At most %d." % items_total]})
            data["currency"] = data["currency"] or ticket["currency"]
            if not data["currency"]:
                raise ValidationFailed("A refund names its currency", fields={"currency": ["Required for a refund."]})
        now = utcnow()
        resolution = dict(data, resolved_by=identity.actor())
        changes = {"status": "resolved", "resolved_at": now, "resolution": resolution,
                   "acknowledged_at": ticket["acknowledged_at"] or now,
                   "first_response_at": ticket["first_response_at"] or now,
                   "next_response_due_at": None, "overdue": False, "overdue_reason": None}
        changes.update(self._resume(ticket, now))
        storage.update_ticket(self.db, ticket["id"], changes)
        storage.audit(self.db, ticket["id"], identity.actor(), "resolved",
                      {"action": data["action"], "remarks": data.get("remarks"),
                       "refund_amount": data.get("refund_amount"), "currency": data.get("currency")})
        self._emit(TicketResolved, ticket, identity.actor(), action=data["action"], resolution=data["resolution"],
                   refs=ticket["refs"], resolved_by=identity.actor())
        return self.get_ticket(reference, merchant_id)

    def _requester_side(self, identity, ticket):
        """The buyer app for its customer, the partner, or the user who raised it (owners too)."""
        if identity.role in (BUYER_APP, LOGISTICS_PARTNER):
            return True
        return domain.is_requester(identity, ticket) or identity.role in OWNERS

    @rpc
    @idempotent
    def close_ticket(self, reference, data, merchant_id=None):
        """Closed by the buyer (or whoever raised it), with an optional rating: the CSAT."""
        identity = self._caller(*domain.DESK, BUYER_APP)
        data = load(ClosureSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        if not self._requester_side(identity, ticket):
            raise domain.forbidden("Only whoever raised the ticket closes it")
        domain.check_transition(ticket, "close")
        now = utcnow()
        changes = {"status": "closed", "closed_at": now, "overdue": False, "overdue_reason": None}
        if data["rating"] is not None:
            changes.update(rating=data["rating"], rating_comment=data["remarks"])
        changes.update(self._resume(ticket, now))
        storage.update_ticket(self.db, ticket["id"], changes)
        storage.audit(self.db, ticket["id"], identity.actor(), "closed",
                      {"rating": data["rating"], "remarks": data["remarks"]})
        self._emit(TicketClosed, ticket, identity.actor(), rating=data["rating"])
        return self.get_ticket(reference, merchant_id)

    @rpc
    @idempotent
    def reopen_ticket(self, reference, data, merchant_id=None):
        """The buyer (or whoever raised it) reopens a resolved or closed ticket within the window."""
        identity = self._caller(*domain.DESK, BUYER_APP)
        data = load(TicketReasonSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        if not self._requester_side(identity, ticket):
            raise domain.forbidden("Only whoever raised the ticket reopens it")
        domain.check_transition(ticket, "reopen")
        if ticket["merged_into"]:
            raise Conflict("%s was merged into %s" % (reference, ticket["merged_into"]), code="ticket_merged")
        now = utcnow()
        settings = self._settings(ticket["merchant_id"])
        window = timedelta(days=settings.get("reopen_window_days", 7))
        if ticket["resolved_at"] and now - ticket["resolved_at"] > window:
            raise Conflict("%s can be reopened only within %d days of its resolution" % (reference, window.days),
                           code="reopen_window_passed", fields={"status": [ticket["status"]]})
        clock = self._clock(ticket, settings, now)
        target = clock["policy"]["next_response_minutes"] or clock["policy"]["first_response_minutes"]
        storage.update_ticket(self.db, ticket["id"], {
            "status": "open", "closed_at": None, "resolved_at": None, "reopened_count": ticket["reopened_count"] + 1,
            "next_response_due_at": sla.deadline(clock["calendar"], now, target * 60), "overdue": False,
            "overdue_reason": None})
        storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "main",
                                      "author": identity.actor(), "body": data["reason"]})
        storage.audit(self.db, ticket["id"], identity.actor(), "reopened", {"reason": data["reason"]})
        self._emit(TicketReopened, ticket, identity.actor(), reason=data["reason"])
        return self.get_ticket(reference, merchant_id)

    @rpc
    @idempotent
    def rate_ticket(self, reference, data, merchant_id=None):
        identity = self._caller(*domain.DESK, BUYER_APP)
        data = load(RatingSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        if not self._requester_side(identity, ticket):
            raise domain.forbidden("Only whoever raised the ticket rates it")
        domain.check_transition(ticket, "rate")
        storage.update_ticket(self.db, ticket["id"], {"rating": data["rating"], "rating_comment": data["comment"]})
        storage.audit(self.db, ticket["id"], identity.actor(), "rated", data)
        return self.get_ticket(reference, merchant_id)

    # -- threads ------------------------------------------------------------------------------------
    def _resume(self, ticket, now):
        """Changes ending a running pause (waiting on the requester or the partner), deadlines moved."""
        if not ticket["waiting_on"]:
            return {}
        pauses = [list(p) for p in ticket["pauses"]]
        if pauses and pauses[-1][1] is None:
            pauses[-1][1] = now.isoformat()
        changes = {"waiting_on": None, "pauses": pauses}
        clock = self._clock(dict(ticket, pauses=pauses), self._settings(ticket["merchant_id"]), now)
        changes.update(ack_due_at=clock["ack_due_at"], resolution_due_at=clock["resolution_due_at"])
        return changes

    def _pause(self, ticket, waiting_on, now):
        if ticket["waiting_on"]:
            return {"waiting_on": waiting_on}
        return {"waiting_on": waiting_on, "pauses": list(ticket["pauses"]) + [[now.isoformat(), None]]}

    def _requester_answered(self, ticket, author):
        """The requester wrote: a pause for them ends, and the desk owes a next response."""
        now = utcnow()
        changes = self._resume(ticket, now) if ticket["waiting_on"] == "requester" else {}
        settings = self._settings(ticket["merchant_id"])
        clock = self._clock(ticket, settings, now)
        minutes = clock["policy"]["next_response_minutes"]
        if minutes and ticket["first_response_at"] is not None and ticket["status"] in storage.OPEN:
            changes["next_response_due_at"] = sla.deadline(clock["calendar"], now, minutes * 60)
        if changes:
            storage.update_ticket(self.db, ticket["id"], changes)
        storage.audit(self.db, ticket["id"], author, "message_posted", {"thread": "main"})

    @rpc
    @idempotent
    def post_message(self, reference, data, merchant_id=None):
        identity = self._caller(*domain.STAFF, BUYER_APP, LOGISTICS_PARTNER)
        data = load(MessageSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        staff = identity.role in domain.STAFF
        if data["thread"] == "internal" and not domain.reads_internal(identity):
            raise domain.forbidden("The Internal thread is for the back office and its escalation team")
        domain.check_transition(ticket, "message")
        now = utcnow()
        message_id = new_id()
        ids = [str(i) for i in data["attachment_ids"]]
        if ids and storage.claim_attachments(self.db, ticket["merchant_id"], ids, ticket["id"],
                                             identity.user_id) != len(set(ids)):
            raise ValidationFailed("Some attachments are not yours to attach", code="attachment_not_found",
                                   fields={"attachment_ids": ["Upload each file first, as the same caller."]})
        storage.add_message(self.db, {"id": message_id, "ticket_id": ticket["id"], "thread": data["thread"],
                                      "author": identity.actor(), "body": data["body"], "attachment_ids": ids})
        if staff and data["thread"] == "main":
            changes = {}
            if identity.role in domain.RESOLVERS:
                self._first_response(ticket, changes, now)  # a direct reply acknowledges too
            if data["waiting_on_requester"]:
                changes.update(self._pause(ticket, "requester", now))
            storage.update_ticket(self.db, ticket["id"], changes)
            storage.audit(self.db, ticket["id"], identity.actor(), "message_posted",
                          {"thread": "main", "acknowledged": "acknowledged_at" in changes,
                           "waiting_on": changes.get("waiting_on")})
        elif not staff:
            self._requester_answered(ticket, identity.actor())
        else:
            storage.audit(self.db, ticket["id"], identity.actor(), "message_posted", {"thread": "internal"})
        self._emit(MessagePosted, ticket, identity.actor(), thread=data["thread"], message_id=message_id,
                   author=identity.actor(), body=domain.excerpt(data["body"]))
        return self.get_ticket(reference, merchant_id)

    # -- assignment -----------------------------------------------------------------------------------
    def _roster(self, identity, merchant_id):
        """The merchant's agents (support agents and owners) from the gateway's directory."""
        people = self.gateway.directory({"merchant_id": merchant_id, "roles": list(domain.AGENT_ROLES)})["items"]
        storage.sync_agents(self.db, merchant_id, people)
        return people

    @rpc
    def list_agents(self, query=None):
        """The agents who may take a ticket, each with open-ticket count, capacity and availability."""
        identity = self.caller.require(*BACK_OFFICE)
        query = load(CountsQuerySchema, query or {})
        merchant_id = identity.merchant_scope(query["merchant_id"])
        people = {p["user_id"]: p for p in self._roster(identity, merchant_id)}
        rows = storage.agents(self.db, merchant_id, list(people))
        return {"items": [{"user_id": str(r["user_id"]), "username": r["username"],
                           "display_name": people[str(r["user_id"])].get("display_name"),
                           "role": people[str(r["user_id"])].get("role"), "open_tickets": r["open_tickets"],
                           "capacity": r["capacity"], "available": r["available"]} for r in rows], "next": None}

    @rpc
    def update_agent(self, user_id, data):
        """Capacity and availability: the owner sets both; an agent its own availability."""
        identity = self.caller.require(OWNER, ADMIN, SUPPORT_AGENT)
        data = load(AgentUpdateSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        user_id = require_id(user_id, "user_id")
        if identity.role == SUPPORT_AGENT and (user_id != identity.user_id or data["capacity"] is not None):
            raise domain.forbidden("An agent sets only their own availability")
        people = {p["user_id"] for p in self._roster(identity, merchant_id)}
        if user_id not in people:
            raise NotFound("No agent %s at this merchant" % user_id, code="agent_not_found")
        storage.update_agent(self.db, merchant_id, user_id, data)
        agent = storage.agent(self.db, merchant_id, user_id)
        return {"user_id": user_id, "username": agent["username"], "capacity": agent["capacity"],
                "available": agent["available"], "open_tickets": storage.open_count(self.db, merchant_id, user_id)}

    @rpc
    @idempotent
    def assign_ticket(self, reference, data, merchant_id=None):
        """Assign, reassign (another id) or unassign (null)."""
        identity = self.caller.require(*domain.ASSIGNERS)
        data = load(AssignmentSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        domain.check_transition(ticket, "assign")
        assignee_id = str(data["assignee_id"]) if data["assignee_id"] else None
        username = None
        if assignee_id:
            # the whole roster, filtered here: the directory's user_ids filter fails on main (uuid = text)
            found = [p for p in self._roster(identity, str(ticket["merchant_id"])) if p["user_id"] == assignee_id]
            if not found:
                raise ValidationFailed("%s is not an agent of this merchant" % assignee_id, code="not_an_agent",
                                       fields={"assignee_id": ["Not an active agent of this merchant."]})
            username = found[0]["username"]
        if assignee_id == (str(ticket["assignee_id"]) if ticket["assignee_id"] else None):
            return self.get_ticket(reference, merchant_id)
        self._set_assignee(ticket, assignee_id, username, identity.actor())
        return self.get_ticket(reference, merchant_id)

    # -- escalation and the logistics partner -------------------------------------------------------------
    @rpc
    @idempotent
    def escalate_ticket(self, reference, data, merchant_id=None):
        identity = self.caller.require(*domain.STAFF)
        data = load(TicketReasonSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        domain.check_transition(ticket, "escalate")
        if not domain.may_escalate(identity, ticket):
            raise domain.forbidden("Only the team the ticket is with escalates it further")
        level = domain.next_level(ticket)
        storage.update_ticket(self.db, ticket["id"], {"escalation_level": level})
        # the Internal thread opens to the team it went to
        storage.add_message(self.db, {"id": new_id(), "ticket_id": ticket["id"], "thread": "internal",
                                      "author": identity.actor(),
                                      "body": "Escalated to %s: %s" % (level.replace("_", " "), data["reason"])})
        storage.audit(self.db, ticket["id"], identity.actor(), "escalated",
                      {"from": ticket["escalation_level"] or STORE_USER, "to": level, "reason": data["reason"]})
        self._emit(TicketEscalated, ticket, identity.actor(), level=level, reason=data["reason"])
        return self.get_ticket(reference, merchant_id)

    @rpc
    @idempotent
    def cascade_ticket(self, reference, data, merchant_id=None):
        """Hand an on-network delivery issue to the logistics partner; the clock waits on it."""
        identity = self.caller.require(*domain.ASSIGNERS)
        data = load(CascadeSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        domain.check_transition(ticket, "cascade")
        if ticket["delivery_type"] != "on_network":
            raise Conflict("Only on-network deliveries go to a logistics partner", code="not_on_network",
                           fields={"delivery_type": [ticket["delivery_type"] or "none"]})
        now = utcnow()
        changes = {"partner_client_id": str(data["partner_client_id"]), "lsp_status": "pending", "lsp_eta": None}
        changes.update(self._pause(ticket, "partner", now))
        storage.update_ticket(self.db, ticket["id"], changes)
        storage.audit(self.db, ticket["id"], identity.actor(), "cascaded",
                      {"partner_client_id": str(data["partner_client_id"]), "remarks": data["remarks"]})
        self._emit(TicketCascaded, ticket, identity.actor(), partner_client_id=data["partner_client_id"],
                   lsp_status="pending")
        return self.get_ticket(reference, merchant_id)

    @rpc
    @idempotent
    def partner_update(self, reference, data, merchant_id=None):
        """The logistics partner's state (Pending, Processing with its ETA, Resolved), on the trail."""
        identity = self.caller.require(LOGISTICS_PARTNER)
        data = load(PartnerUpdateSchema, data)
        ticket = self._ticket_for(identity, reference, merchant_id, lock=True)
        domain.check_transition(ticket, "partner_update")
        now = utcnow()
        changes = {"lsp_status": data["status"], "lsp_eta": data["eta"]}
        if data["status"] == "resolved" and ticket["waiting_on"] == "partner":
            changes.update(self._resume(ticket, now))
        storage.update_ticket(self.db, ticket["id"], changes)
        eta = " (ETA %s)" % data["eta"].isoformat() if data["eta"] else ""
        body = "Logistics partner: %s%s%s" % (data["status"], eta, ": " + data["remarks"] if data["remarks"] else "")
        message_id = new_id()
        storage.add_message(self.db, {"id": message_id, "ticket_id": ticket["id"], "thread": "main",
                                      "author": identity.actor(), "body": body})
        storage.audit(self.db, ticket["id"], identity.actor(), "partner_update",
                      {"lsp_status": data["status"], "eta": data["eta"], "remarks": data["remarks"]})
        self._emit(MessagePosted, ticket, identity.actor(), thread="main", message_id=message_id,
                   author=identity.actor(), body=domain.excerpt(body))
        return self.get_ticket(reference, merchant_id)

    # -- duplicates ------------------------------------------------------------------------------------------
    @rpc
    @idempotent
    def merge_ticket(self, reference, data, merchant_id=None):
        """Close this ticket as a duplicate of another (which stays open and gets a note)."""
        identity = self.caller.require(*domain.ASSIGNERS)
        data = load(MergeSchema, data)
        if data["into"] == reference:
            raise ValidationFailed("A ticket cannot be merged into itself", fields={"into": ["Name another ticket."]})
        first = self._ticket_for(identity, reference, merchant_id)
        target = storage.ticket_by_reference(self.db, first["merchant_id"], data["into"])
        if target is None:
            raise ValidationFailed("No ticket %s at this merchant" % data["into"], code="ticket_not_found",
                                   fields={"into": ["No such ticket."]})
        # both rows locked in one order, so two merges the other way round cannot deadlock
        for ticket_id in sorted((str(first["id"]), str(target["id"]))):
            storage.ticket_by_id(self.db, ticket_id, lock=True)
        ticket = storage.ticket_by_id(self.db, first["id"])
        target = storage.ticket_by_id(self.db, target["id"])
        domain.check_transition(ticket, "merge")
        domain.check_transition(target, "merge")
        now = utcnow()
        changes = {"status": "closed", "closed_at": now, "merged_into": target["reference"], "overdue": False,
                   "overdue_reason": None}
        changes.update(self._resume(ticket, now))
        storage.update_ticket(self.db, ticket["id"], changes)
        storage.add_message(self.db, {"id": new_id(), "ticket_id": target["id"], "thread": "internal",
                                      "author": identity.actor(),
                                      "body": "%s was merged into this ticket" % ticket["reference"]})
        storage.audit(self.db, ticket["id"], identity.actor(), "merged", {"into": target["reference"]})
        storage.audit(self.db, target["id"], identity.actor(), "merged_in", {"from": ticket["reference"]})
        self._emit(TicketClosed, ticket, identity.actor(), rating=None)
        return self.get_ticket(reference, merchant_id)

    # -- the clock --------------------------------------------------------------------------------------------
    @timer(interval=OVERDUE_SWEEP_SECONDS)
    def flag_overdue_tickets(self):
        """Flag tickets past a deadline, say why, and emit ``ticket_overdue`` once per breach."""
        self.mark_overdue()

    def mark_overdue(self):
        now = utcnow()
        system = Identity.system(self.name).actor()
        flagged = 0
        for ticket in storage.breached(self.db):
            found = domain.breach(ticket, now)
            if found is None:
                continue
            reason, due = found
            storage.update_ticket(self.db, ticket["id"], {"overdue": True, "overdue_reason": reason,
                                                          "overdue_at": now})
            storage.audit(self.db, ticket["id"], system, "overdue", {"reason": reason, "due_at": due})
            self._emit(TicketOverdue, ticket, system, reason=reason, due_at=due)
            flagged += 1
        # no overdue metric yet: tests/unit/test_k8s_monitoring.py wants its panels and alerts with it
        return flagged

    # -- the desk's settings ------------------------------------------------------------------------------------
    @rpc
    def get_sla_settings(self, merchant_id=None):
        identity = self.caller.require(*BACK_OFFICE)
        merchant_id = identity.merchant_scope(merchant_id)
        settings = self._settings(merchant_id)
        if settings.get("holidays"):
            settings["holidays"] = [date.fromisoformat(d) for d in settings["holidays"]]
        return SlaSettingsSchema().dump(dict({"timezone": "UTC", "hours": None, "holidays": [], "policies": [],
                                              "store_timezones": {}, "reopen_window_days": 7}, **settings))

    @rpc
    def set_sla_settings(self, data):
        """SLA policies by priority and category, business hours (split shifts), holidays, time zones,
        the reopen window and automatic assignment (off, round robin, least loaded)."""
        identity = self.caller.require(*OWNERS)
        data = load(SlaSettingsSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        try:
            for name in [data["timezone"]] + list(data["store_timezones"].values()):
                sla.Calendar.of(name, data["hours"], ())
        except ValueError as error:
            raise ValidationFailed(str(error), fields={"timezone": [str(error)]})
        keys = [(p["priority"], p["category"]) for p in data["policies"]]
        if len(set(keys)) != len(keys):
            raise ValidationFailed("One policy per priority and category", fields={"policies": ["Duplicated."]})
        values = dict(data, holidays=[d.isoformat() for d in data["holidays"]],
                      store_timezones={str(k): v for k, v in data["store_timezones"].items()})
        storage.save_settings(self.db, merchant_id, dict(values))
        return self.get_sla_settings(merchant_id)

    # -- canned responses ------------------------------------------------------------------------------------------
    @rpc
    def list_canned_responses(self, merchant_id=None):
        identity = self.caller.require(*domain.DESK)
        merchant_id = identity.merchant_scope(merchant_id)
        return {"items": [{"id": str(r["id"]), "title": r["title"], "body": r["body"]}
                          for r in storage.canned_responses(self.db, merchant_id)], "next": None}

    @rpc
    @idempotent
    def create_canned_response(self, data):
        identity = self.caller.require(*domain.ASSIGNERS)
        data = load(CannedResponseSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        row = dict(data, id=new_id(), merchant_id=merchant_id, created_by=identity.actor())
        if not storage.add_canned_response(self.db, row):
            raise Conflict("There is a canned response titled %s already" % data["title"], code="title_taken",
                           fields={"title": ["Already used."]})
        return {"id": row["id"], "title": row["title"], "body": row["body"]}

    @rpc
    def update_canned_response(self, response_id, data, merchant_id=None):
        identity = self.caller.require(*domain.ASSIGNERS)
        data = load(CannedResponseSchema, data)
        data.pop("merchant_id")
        merchant_id = identity.merchant_scope(merchant_id)
        updated = storage.update_canned_response(self.db, merchant_id, require_id(response_id, "response_id"), data)
        if updated is None:
            raise NotFound("No canned response %s" % response_id, code="canned_response_not_found")
        if updated is False:
            raise Conflict("There is a canned response titled %s already" % data["title"], code="title_taken",
                           fields={"title": ["Already used."]})
        return {"id": str(updated["id"]), "title": updated["title"], "body": updated["body"]}

    @rpc
    def delete_canned_response(self, response_id, merchant_id=None):
        identity = self.caller.require(*domain.ASSIGNERS)
        merchant_id = identity.merchant_scope(merchant_id)
        if not storage.delete_canned_response(self.db, merchant_id, require_id(response_id, "response_id")):
            raise NotFound("No canned response %s" % response_id, code="canned_response_not_found")
        return None

    # -- the dashboard ----------------------------------------------------------------------------------------------
    @rpc
    def dashboard(self, query=None):
        """KPIs from real data: SLA attainment (first responses in time), open, critical, overdue,
        average first response and resolution times, CSAT; overall, per store and per category."""
        identity = self.caller.require(*BACK_OFFICE)
        query = load(DashboardQuerySchema, query or {})
        merchant_id = identity.merchant_scope(query["merchant_id"])
        rows = storage.dashboard(self.db, merchant_id, query["store_id"])
        result = {"overall": None, "by_store": [], "by_category": []}
        for row in rows:
            kpis = kpi(row)
            key = row["key"]
            if key == "all":
                result["overall"] = kpis
            elif key.startswith("s:"):
                result["by_store"].append(dict(kpis, store_id=key[2:] or None))  # '' : no store
            else:
                result["by_category"].append(dict(kpis, category=key[2:]))
        result["overall"] = result["overall"] or kpi({})
        return result

    # -- attachments --------------------------------------------------------------------------------------------------
    @rpc
    def upload_attachment(self, reference, filename, content, merchant_id=None):
        """A file checked by its content (images, PDF; at most 5 MB), stored on the volume; on the
        ticket when ``reference`` names one, else waiting for the ticket it is raised with."""
        identity = self._caller(*domain.STAFF, BUYER_APP, LOGISTICS_PARTNER)
        data, content_type = self._checked_file(content)
        ticket = self._ticket_for(identity, reference, merchant_id) if reference else None
        merchant = ticket["merchant_id"] if ticket else identity.merchant_scope(merchant_id)
        row = self._keep_file(identity, data, content_type, filename, merchant,
                              ticket_id=ticket["id"] if ticket else None)
        if ticket:
            storage.audit(self.db, ticket["id"], identity.actor(), "attached",
                          {"attachment_id": row["id"], "filename": row["filename"],
                           "content_type": row["content_type"]})
        return {"id": row["id"], "filename": row["filename"], "content_type": row["content_type"], "size": row["size"]}

    @staticmethod
    def _checked_file(content):
        try:
            data = base64.b64decode(content or "", validate=True)
        except ValueError:
            raise ValidationFailed("The file is not valid base64", fields={"file": ["Not base64."]})
        return data, attachments.sniff(data)  # refused here, before anything is stored

    def _keep_file(self, identity, data, content_type, filename, merchant_id, ticket_id=None, conversation_id=None):
        """Into the store (filesystem or S3), then its row: a rolled-back request takes its file back."""
        attachment_id = new_id()
        row = {"id": attachment_id, "merchant_id": merchant_id, "ticket_id": ticket_id,
               "conversation_id": conversation_id, "filename": attachments.safe_name(filename, content_type),
               "content_type": content_type, "size": len(data), "sha256": attachments.digest(data),
               "storage_key": attachment_id, "uploaded_by": identity.actor()}
        store = self.files
        store.put(attachment_id, data)
        self.db.after_rollback(lambda: store.delete(attachment_id))
        storage.add_attachment(self.db, row)
        return row

    @rpc
    def get_attachment(self, reference, attachment_id, merchant_id=None):
        """The file, to those who may see its ticket (and its thread)."""
        identity = self._caller(*domain.STAFF, BUYER_APP, LOGISTICS_PARTNER)
        ticket = self._ticket_for(identity, reference, merchant_id)
        row = storage.attachment(self.db, ticket["merchant_id"], require_id(attachment_id, "attachment_id"))
        hidden = {str(i) for m in storage.messages(self.db, ticket["id"], ("internal",)) for i in m["attachment_ids"]}
        if row is None or row["ticket_id"] != ticket["id"] or (
                not domain.reads_internal(identity) and str(row["id"]) in hidden):
            raise NotFound("No attachment %s on %s" % (attachment_id, reference), code="attachment_not_found")
        data = self.files.get(row["storage_key"])
        return {"filename": row["filename"], "content_type": row["content_type"],
                "content": base64.b64encode(data).decode()}

    # -- chat ---------------------------------------------------------------------------------------------------------
    def _conversation_for(self, identity, conversation_id, merchant_id=None, lock=False):
        merchant_id = identity.merchant_scope(merchant_id)
        row = storage.conversation(self.db, merchant_id, require_id(conversation_id, "conversation_id"), lock=lock)
        if row is None or (identity.role == BUYER_APP and str(row["customer_id"]) != identity.customer_id) or (
                identity.role == STORE_USER and row["store_id"] and str(row["store_id"]) != identity.store_id):
            raise NotFound("No conversation %s" % conversation_id, code="conversation_not_found")
        return row

    @rpc
    @idempotent
    def start_conversation(self, data):
        """A customer starts a chat from the buyer app; staff open one from a customer's page."""
        identity = self._caller(*domain.DESK, BUYER_APP)
        data = load(StartConversationSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        if identity.role == BUYER_APP:
            customer_id, kind = identity.customer_id, "customer"
        else:
            if not data["customer_id"]:
                raise ValidationFailed("Name the customer to talk to", fields={"customer_id": ["Required for staff."]})
            customer_id, kind = str(data["customer_id"]), "staff"
        conversation = {"id": new_id(), "merchant_id": merchant_id, "customer_id": customer_id,
                        "store_id": identity.store_id if identity.role == STORE_USER else data["store_id"],
                        "started_by": identity.actor()}
        storage.add_conversation(self.db, conversation)
        self._say(conversation, kind, identity.actor(), data["body"])
        return self.get_conversation(conversation["id"], merchant_id)

    def _say(self, conversation, kind, author, body, attachment_ids=()):
        message_id = new_id()
        storage.add_conversation_message(self.db, {"id": message_id, "conversation_id": conversation["id"],
                                                   "author_kind": kind, "author": author, "body": body,
                                                   "attachment_ids": list(attachment_ids)})
        row = storage.conversation_by_id(self.db, conversation["id"])
        seen = row["customer_seen_at"]
        online = seen is not None and utcnow() - seen < CUSTOMER_ONLINE
        self.events.emit(ConversationMessage.of(
            conversation_id=row["id"], merchant_id=row["merchant_id"], customer_id=row["customer_id"],
            message_id=message_id, author_kind=kind, body=domain.excerpt(body or "(sent a file)"),
            customer_online=online))

    @rpc
    def list_conversations(self, filters=None):
        """The chat inbox (staff), or the customer's own conversations (buyer app)."""
        identity = self._caller(*domain.DESK, BUYER_APP)
        merchant_id, filters = self.scoped(identity, ConversationFilterSchema, filters)
        customer_id = identity.customer_id if identity.role == BUYER_APP else None
        return storage.list_conversations(self.db, merchant_id, filters, dump_conversation, customer_id)

    @rpc
    def get_conversation(self, conversation_id, merchant_id=None):
        identity = self._caller(*domain.DESK, BUYER_APP)
        row = self._conversation_for(identity, conversation_id, merchant_id)
        result = dump_conversation(row)
        files = [dump_file(f) for f in storage.conversation_attachments(self.db, row["id"])]
        result["messages"] = [{"id": str(m["id"]), "author_kind": m["author_kind"], "author": m["author"],
                               "body": m["body"], "created_at": m["created_at"].isoformat(),
                               "attachments": [f for f in files if f["id"] in {str(i) for i in m["attachment_ids"]}]}
                              for m in storage.conversation_messages(self.db, row["id"])]
        result["attachments"] = files
        return result

    @rpc
    @idempotent
    def post_conversation_message(self, conversation_id, data, merchant_id=None):
        identity = self._caller(*domain.DESK, BUYER_APP)
        data = load(ConversationMessageSchema, data)
        row = self._conversation_for(identity, conversation_id, merchant_id, lock=True)
        if row["status"] != "open":
            raise Conflict("The conversation is closed", code="conversation_closed", fields={"status": [row["status"]]})
        kind = "customer" if identity.role == BUYER_APP else "staff"
        ids = [str(i) for i in data["attachment_ids"]]
        if ids and storage.own_conversation_attachments(self.db, row["id"], ids, identity.user_id) != len(set(ids)):
            raise ValidationFailed("Some attachments are not yours to send", code="attachment_not_found",
                                   fields={"attachment_ids": ["Upload each file to this conversation first."]})
        self._say(row, kind, identity.actor(), data["body"], ids)
        return self.get_conversation(row["id"], merchant_id)

    @rpc
    def upload_conversation_attachment(self, conversation_id, filename, content, merchant_id=None):
        """An image or PDF for a chat message (checked by content, at most 5 MB, stored as ticket
        attachments are); sent by naming it in the message's ``attachment_ids``."""
        identity = self._caller(*domain.DESK, BUYER_APP)
        data, content_type = self._checked_file(content)
        row = self._conversation_for(identity, conversation_id, merchant_id)
        if row["status"] != "open":
            raise Conflict("The conversation is closed", code="conversation_closed", fields={"status": [row["status"]]})
        kept = self._keep_file(identity, data, content_type, filename, row["merchant_id"], conversation_id=row["id"])
        return {"id": kept["id"], "filename": kept["filename"], "content_type": kept["content_type"],
                "size": kept["size"]}

    @rpc
    def get_conversation_attachment(self, conversation_id, attachment_id, merchant_id=None):
        """A chat file, to the conversation's participants only: the merchant's desk (a store user: their
        store's) and the buyer app acting for that customer."""
        identity = self._caller(*domain.DESK, BUYER_APP)
        conversation = self._conversation_for(identity, conversation_id, merchant_id)
        row = storage.attachment(self.db, conversation["merchant_id"], require_id(attachment_id, "attachment_id"))
        if row is None or row["conversation_id"] != conversation["id"]:
            raise NotFound("No attachment %s in this conversation" % attachment_id, code="attachment_not_found")
        return {"filename": row["filename"], "content_type": row["content_type"],
                "content": base64.b64encode(self.files.get(row["storage_key"])).decode()}

    @rpc
    @idempotent
    def conversation_to_ticket(self, conversation_id, data, merchant_id=None):
        """Turn a chat into a ticket: the customer is its requester, the chat its first message, and
        the files sent in the chat its attachments."""
        identity = self.caller.require(*domain.DESK)
        data = load(ConversationTicketSchema, data)
        row = self._conversation_for(identity, conversation_id, merchant_id, lock=True)
        if row["ticket_reference"]:
            raise Conflict("This conversation is already %s" % row["ticket_reference"], code="already_a_ticket")
        transcript = "\n".join("%s: %s" % (m["author_kind"], m["body"] or "(sent a file)")
                               for m in storage.conversation_messages(self.db, row["id"]))
        fields = dict(data, description=transcript[:10000] or data["subject"], source="chat",
                      store_id=row["store_id"], refs={}, customer_id=str(row["customer_id"]),
                      requester={"kind": "customer", "id": str(row["customer_id"])})
        ticket = self._open_ticket(row["merchant_id"], fields, identity)
        storage.carry_conversation_attachments(self.db, row["id"], ticket["id"])
        storage.link_conversation(self.db, row["id"], ticket["reference"])
        return self._shown(identity, ticket)


def kpi(row):
    """A dashboard row as the KPIs it stands for."""
    responded, in_time, late = row.get("responded") or 0, row.get("responded_in_time") or 0, row.get(
        "late_unanswered") or 0
    measured = responded + late
    return {"open": row.get("open") or 0, "critical": row.get("critical") or 0, "overdue": row.get("overdue") or 0,
            "sla_attainment_percent": round(100.0 * in_time / measured, 1) if measured else None,
            "avg_first_response_seconds": round(float(row["avg_first_response_seconds"]))
            if row.get("avg_first_response_seconds") is not None else None,
            "avg_resolution_seconds": round(float(row["avg_resolution_seconds"]))
            if row.get("avg_resolution_seconds") is not None else None,
            "csat": round(float(row["avg_rating"]), 2) if row.get("avg_rating") is not None else None,
            "rated": row.get("rated") or 0}
