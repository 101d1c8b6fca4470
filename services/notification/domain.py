"""Who hears about what: the audiences of each kind of event."""

SUPPORT_PANEL_ROLES = ("support_agent", "owner")


def money(amount, currency):
    if amount is None or not currency:
        return None
    return "%s %d.%02d" % (currency, amount // 100, amount % 100) if amount >= 0 else \
        "-%s" % money(-amount, currency)


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
