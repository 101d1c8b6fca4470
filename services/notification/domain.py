"""Who hears about what: the audiences of each kind of event."""

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
    refs = event.get("refs") or {}
    amount = money(refs.get("amount"), refs.get("currency"))
    body = "%s %s (%s priority)" % (event["reference"], event["subject"], event["priority"])
    if amount:
        body += ", amount %s" % amount
    roles = list(SUPPORT_PANEL_ROLES)
    if event["category"] == "settlement" or event["priority"] == "critical":
        roles.append("finance")
    title = ("Critical ticket %s" if event["priority"] == "critical" else "New ticket %s") % event["reference"]
    return [{"audience_role": role, "kind": "ticket_created", "title": title, "body": body,
             "refs": {"ticket_reference": event["reference"], **refs}} for role in roles]


LOCKOUT_WHAT = {"user": "a till user", "store": "a store", "voucher": "a voucher"}


def lockout_messages(event):
    """Repeated failed codes or PINs locked something: the owners should know at once."""
    who = event.get("user") or {}
    body = ("Redemptions by %s are locked until %s after %d failed code or PIN attempts (last by %s)."
            % (LOCKOUT_WHAT.get(event["scope"], event["scope"]), event["locked_until"][11:16] + " UTC",
               event["failures"], who.get("username", "someone")))
    refs = {key: event.get(key) for key in ("scope", "scope_id", "store_id", "locked_until")}
    return [{"audience_role": "owner", "kind": "redemption_lockout",
             "title": "Redemptions locked: too many failed attempts", "body": body, "refs": refs}]


# -- the payout address: who gets paid changed, so the owners hear of it at once --------------------
def moment(iso):
    """``2026-05-04T10:00:00+00:00`` -> ``2026-05-04 10:00 UTC`` (times in events are UTC)."""
    return iso[:10] + " " + iso[11:16] + " UTC" if iso else "unknown"


def who(actor):
    actor = actor or {}
    return "%s (%s)" % (actor.get("username") or "someone", (actor.get("role") or "unknown").replace("_", " "))


def payout_account_set_messages(event):
    """The owners' inbox: the address was set or changed, by whom, and until when payouts wait."""
    previous = event.get("previous_address")
    if previous:
        title = "Payout wallet address changed"
        what = "changed the payout wallet address from %s to %s" % (previous, event["wallet_address"])
    else:
        title = "Payout wallet address set"
        what = "set the payout wallet address to %s" % event["wallet_address"]
    body = ("%s %s on %s. Payouts to it wait until VowRewards has verified it with you and until %s "
            "(cooling-off). If this was not you, contact VowRewards at once."
            % (who(event.get("set_by")), what, moment(event.get("set_at")), moment(event.get("cooling_off_until"))))
    refs = {key: event.get(key) for key in ("wallet_address", "previous_address", "cooling_off_until")}
    return [{"audience_role": "owner", "kind": "payout_account_set", "title": title, "body": body, "refs": refs}]


def payout_account_confirmed_messages(event):
    how = {"email_code": "with the code emailed to your contact address",
           "call_note": "by phone"}.get(event.get("method"), "")
    body = ("VowRewards confirmed the payout wallet address %s %s on %s. Payouts go to it from %s."
            % (event["wallet_address"], how, moment(event.get("confirmed_at")), moment(event.get("payable_from"))))
    refs = {key: event.get(key) for key in ("wallet_address", "method", "payable_from")}
    return [{"audience_role": "owner", "kind": "payout_account_confirmed",
             "title": "Payout wallet address confirmed", "body": " ".join(body.split()), "refs": refs}]


def payout_change_email(event):
    """To the merchant's registered contact: (subject, body) of the change notice."""
    name = event.get("merchant_name") or "your business"
    previous = event.get("previous_address")
    subject = "VowRewards: the payout wallet address of %s was %s" % (name, "changed" if previous else "set")
    lines = ["Hello,", "", "The payout wallet address of %s on VowRewards" % name]
    if previous:
        lines += ["was changed from %s to %s" % (previous, event["wallet_address"])]
    else:
        lines += ["was set to %s" % event["wallet_address"]]
    lines += [
        "by %s on %s." % (who(event.get("set_by")), moment(event.get("set_at"))),
        "",
        "No payout goes to it until VowRewards has verified it with you (we will",
        "email you a code or call you), and not before %s." % moment(event.get("cooling_off_until")),
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
        "%s:" % (event.get("merchant_name") or "your business"),
        "",
        "    %s" % event["wallet_address"],
        "",
        "If that is your address, read this code back to VowRewards when asked:",
        "",
        "    %s" % event["code"],
        "",
        "The code works until %s." % moment(event.get("expires_at")),
        "If the address is not yours, do not share the code: contact VowRewards",
        "support instead.",
        "",
        "VowRewards",
    ])
    return subject, body + "\n"
