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
