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
