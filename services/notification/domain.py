"""Who hears about what: the audiences of each kind of event (events as their contracts load them)."""

SUPPORT_PANEL_ROLES = ("support_agent", "owner")


# ISO 4217 minor units where they are not 2: amounts are in minor units, and 500 JPY is
# five hundred yen, not 5.00
DECIMALS = {**dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
            **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3)}


def money(amount, currency):
    if amount is None or not currency:
        return None
    if amount < 0:
        return "-%s" % money(-amount, currency)
    decimals = DECIMALS.get(currency, 2)
    if not decimals:
        return "%s %d" % (currency, amount)
    units, cents = divmod(amount, 10 ** decimals)
    return "%s %d.%0*d" % (currency, units, decimals, cents)


def ticket_created_messages(event):
    """A new ticket reaches everyone with the support panel; settlement ones reach finance too."""
    refs = event.refs
    amount = money(refs.get("amount"), refs.get("currency"))
    body = "%s %s (%s priority)" % (event.reference, event.subject, event.priority)
    if amount:
        body += ", amount %s" % amount
    roles = list(SUPPORT_PANEL_ROLES)
    if event.category == "settlement" or event.priority == "critical":
        roles.append("finance")
    title = ("Critical ticket %s" if event.priority == "critical" else "New ticket %s") % event.reference
    return [{"audience_role": role, "kind": "ticket_created", "title": title, "body": body,
             "refs": {"ticket_reference": event.reference, **refs}} for role in roles]


LOCKOUT_WHAT = {"user": "a till user", "store": "a store", "voucher": "a voucher"}


def lockout_messages(event):
    """Repeated failed codes or PINs locked something: the owners should know at once."""
    body = ("Redemptions by %s are locked until %s after %d failed code or PIN attempts (last by %s)."
            % (LOCKOUT_WHAT.get(event.scope, event.scope), event.locked_until.strftime("%H:%M UTC"),
               event.failures, event.user.get("username") or "someone"))
    refs = {"scope": event.scope, "scope_id": event.scope_id, "store_id": event.store_id,
            "locked_until": iso(event.locked_until)}
    return [{"audience_role": "owner", "kind": "redemption_lockout",
             "title": "Redemptions locked: too many failed attempts", "body": body, "refs": refs}]


# -- the payout address: who gets paid changed, so the owners hear of it at once --------------------
def moment(when):
    """A UTC time as people read it: ``2026-05-04 10:00 UTC``."""
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "unknown"


def iso(when):
    """A time in an inbox message's refs (JSON), as events carry it."""
    return when.isoformat() if when else None


def who(actor):
    actor = actor or {}
    return "%s (%s)" % (actor.get("username") or "someone", (actor.get("role") or "unknown").replace("_", " "))


def payout_account_set_messages(event):
    """The owners' inbox: the address was set or changed, by whom, and until when payouts wait."""
    previous = event.previous_address
    if previous:
        title = "Payout wallet address changed"
        what = "changed the payout wallet address from %s to %s" % (previous, event.wallet_address)
    else:
        title = "Payout wallet address set"
        what = "set the payout wallet address to %s" % event.wallet_address
    body = ("%s %s on %s. Payouts to it wait until VowRewards has verified it with you and until %s "
            "(cooling-off). If this was not you, contact VowRewards at once."
            % (who(event.set_by), what, moment(event.set_at), moment(event.cooling_off_until)))
    refs = {"wallet_address": event.wallet_address, "previous_address": previous,
            "cooling_off_until": iso(event.cooling_off_until)}
    return [{"audience_role": "owner", "kind": "payout_account_set", "title": title, "body": body, "refs": refs}]


def payout_account_confirmed_messages(event):
    how = {"email_code": "with the code emailed to your contact address",
           "call_note": "by phone"}.get(event.method, "")
    body = ("VowRewards confirmed the payout wallet address %s %s on %s. Payouts go to it from %s."
            % (event.wallet_address, how, moment(event.confirmed_at), moment(event.payable_from)))
    refs = {"wallet_address": event.wallet_address, "method": event.method,
            "payable_from": iso(event.payable_from)}
    return [{"audience_role": "owner", "kind": "payout_account_confirmed",
             "title": "Payout wallet address confirmed", "body": " ".join(body.split()), "refs": refs}]


def payout_change_email(event):
    """To the merchant's registered contact: (subject, body) of the change notice."""
    name = event.merchant_name or "your business"
    previous = event.previous_address
    subject = "VowRewards: the payout wallet address of %s was %s" % (name, "changed" if previous else "set")
    lines = ["Hello,", "", "The payout wallet address of %s on VowRewards" % name]
    if previous:
        lines += ["was changed from %s to %s" % (previous, event.wallet_address)]
    else:
        lines += ["was set to %s" % event.wallet_address]
    lines += [
        "by %s on %s." % (who(event.set_by), moment(event.set_at)),
        "",
        "No payout goes to it until VowRewards has verified it with you (we will",
        "email you a code or call you), and not before %s." % moment(event.cooling_off_until),
        "",
        "If you did not ask for this, contact VowRewards support at once and do",
        "not confirm it.",
        "",
        "VowRewards",
    ]
    return subject, "\n".join(lines) + "\n"


def verification_code_email(event):
    """To the merchant's registered contact: (subject, body) carrying the one-time code."""
    subject = "VowRewards: your payout address verification code"
    body = "\n".join([
        "Hello,",
        "",
        "VowRewards platform finance is verifying the payout wallet address of",
        "%s:" % (event.merchant_name or "your business"),
        "",
        "    %s" % event.wallet_address,
        "",
        "If that is your address, read this code back to VowRewards when asked:",
        "",
        "    %s" % event.code,
        "",
        "The code works until %s." % moment(event.expires_at),
        "If the address is not yours, do not share the code: contact VowRewards",
        "support instead.",
        "",
        "VowRewards",
    ])
    return subject, body + "\n"


# -- what each routed event says, in an inbox and an email --------------------------------------
def optional(event, name):
    """A field only some events carry: None where this event does not declare it."""
    declared = getattr(type(event), "__dataclass_fields__", None)
    if declared is not None and name not in declared:
        return None
    return getattr(event, name, None)


def _ref(event, *names):
    return {name: _plain(optional(event, name)) for name in names if optional(event, name) is not None}


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value if isinstance(
        value, (str, int, float, bool, dict, list)) else str(value)


def _ticket(event):
    return _ref(event, "ticket_id", "reference", "store_id", "priority", "status")


def _ticket_created(event):
    message = ticket_created_messages(event)[0]
    return message["title"], message["body"], message["refs"]


def _lockout(event):
    message = lockout_messages(event)[0]
    return message["title"], message["body"], message["refs"]


def _payout_set(event):
    message = payout_account_set_messages(event)[0]
    return message["title"], message["body"], message["refs"]


def _payout_confirmed(event):
    message = payout_account_confirmed_messages(event)[0]
    return message["title"], message["body"], message["refs"]


RENDER = {
    "support.ticket_created": _ticket_created,
    "support.ticket_acknowledged": lambda e: (
        "Ticket %s acknowledged" % e.reference, "Your ticket %s was acknowledged by the support team." % e.reference,
        _ticket(e)),
    "support.ticket_resolved": lambda e: (
        "Ticket %s resolved" % e.reference, "%s was resolved (%s): %s" % (
            e.reference, e.action.replace("_", " "), e.resolution), _ticket(e)),
    "settlement.exception_raised": lambda e: (
        "Settlement exception: %s" % e.kind.replace("_", " "), "%s%s%s" % (
            e.message, " (batch %s)" % e.batch_reference if e.batch_reference else "",
            ", amount %s" % money(e.amount, e.currency) if e.amount is not None else ""),
        _ref(e, "exception_id", "kind", "batch_reference", "store_id", "amount", "currency")),
    "settlement.exception_resolved": lambda e: (
        "Settlement exception resolved", "The %s exception%s was resolved%s." % (
            e.kind.replace("_", " "), " of batch %s" % e.batch_reference if e.batch_reference else "",
            " with ticket %s" % e.ticket_reference if e.ticket_reference else ""),
        _ref(e, "exception_id", "kind", "batch_reference", "ticket_reference")),
    "settlement.batch_closed": lambda e: (
        "Settlement batch %s closed" % e.reference, "Batch %s for %s: %d entries, %s, status %s." % (
            e.reference, e.period, e.entry_count, money(e.total, e.currency), e.status.replace("_", " ")),
        _ref(e, "batch_id", "reference", "period", "total", "currency", "status")),
    "settlement.batch_released": lambda e: (
        "Settlement batch %s released" % e.reference, "Batch %s (%s, %s) is %s, released by %s." % (
            e.reference, e.period, money(e.total, e.currency), e.status.replace("_", " "), who(e.released_by)),
        _ref(e, "batch_id", "reference", "period", "total", "currency", "status")),
    "settlement.payout_account_set": _payout_set,
    "settlement.payout_account_confirmed": _payout_confirmed,
    "settlement.payout_account_rejected": lambda e: (
        "Payout wallet address rejected", "VowRewards rejected the payout wallet address %s on %s: %s. Nothing is "
        "paid to it: set another address." % (e.wallet_address, moment(e.rejected_at), e.reason),
        _ref(e, "wallet_address", "reason")),
    "campaign.budget_exhausted": lambda e: (
        "Campaign budget exhausted", "A campaign spent %d of its budget of %d and is paused." % (e.spent, e.budget),
        _ref(e, "campaign_id", "budget", "spent")),
    "campaign.points_adjusted": lambda e: (
        "Your points changed", "%+d points: %s" % (e.points, e.reason), _ref(e, "points", "reference")),
    "campaign.funding_agreement_created": lambda e: (
        "New funding agreement", "A %s-funded agreement of %s was created." % (
            e.funder_kind, money(e.budget, e.currency)), _ref(e, "agreement_id", "budget", "currency")),
    "campaign.funding_agreement_changed": lambda e: (
        "Funding agreement %s" % e.status, "The funding agreement is now %s: %s" % (e.status, e.reason),
        _ref(e, "agreement_id", "action", "status")),
    "campaign.issuance_approval_requested": lambda e: (
        "Issuance approval requested", "A merchant asks to issue vouchers above its ceiling.",
        _ref(e, "approval_id", "merchant_id", "currency")),
    "campaign.issuance_approval_decided": lambda e: (
        "Issuance approval %s" % e.status, "Your request to issue above the ceiling was %s: %s" % (
            e.status, e.note), _ref(e, "approval_id", "status")),
    "redemption.redemption_lockout": _lockout,
    "redemption.redemption_reversed": lambda e: (
        "Redemption %s reversed" % e.reference, "%s of %s was reversed by %s: %s" % (
            e.reference, money(e.amount, e.currency), who(e.reversed_by), e.reason),
        _ref(e, "redemption_id", "reference", "amount", "currency", "store_id")),
    "redemption.voucher_cancelled": lambda e: (
        "Voucher cancelled", "A voucher was cancelled: %s" % e.reason, _ref(e, "voucher_id", "campaign_id")),
    "redemption.voucher_expired": lambda e: (
        "Voucher expired", "A voucher expired before it was used up; its unused value is released.",
        _ref(e, "voucher_id", "campaign_id")),
}


def render(event_type, event):
    """(title, body, refs) of an event for a person; events without words of their own say what happened."""
    make = RENDER.get(event_type)
    if make is not None:
        title, body, refs = make(event)
        return title, " ".join(str(body).split()), refs
    subject = _field_text(event, "reference") or ""
    title = "%s %s" % (event_type.partition(".")[2].replace("_", " ").capitalize(), subject)
    body = _field_text(event, "body") or _field_text(event, "subject") or title
    return title.strip(), body, _ref(event, "ticket_id", "reference", "conversation_id", "store_id", "level",
                                     "thread", "message_id")


def _field_text(event, name):
    value = optional(event, name)
    return str(value) if value else None
