"""What goes out: emails rendered from templates (plain text and HTML, in the merchant's name) and the
signed reply tokens that let a reply find its ticket or conversation again."""
import base64
import hashlib
import hmac
import html
import re
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from string import Template

DEFAULT_INBOUND_DOMAIN = "support.vowrewards.localhost"

TEXT = Template("""Hello $name,

$body

$footer
""")

HTML = Template("""<!doctype html>
<html><body style="font-family: sans-serif; color: #1f2933">
<p style="font-size: 18px; font-weight: bold">$merchant</p>
<p>Hello $name,</p>
<p style="font-weight: bold">$title</p>
<p>$body</p>
<hr><p style="font-size: 12px; color: #6b7280">$footer</p>
</body></html>
""")


def compose(sender, recipient, title, body, message_id, merchant_name=None, reply_to=None, recipient_name=None):
    """A multipart (text + HTML) message in the merchant's name; the same Message-ID on every try."""
    merchant = merchant_name or "VowRewards"
    footer = ("Reply to this email to answer." if reply_to else
              "You receive this because of your notification settings at %s." % merchant)
    values = {"name": recipient_name or "there", "title": title, "body": body, "merchant": merchant,
              "footer": footer}
    message = EmailMessage()
    display, address = parseaddr(sender)
    message["From"] = formataddr(("%s via VowRewards" % merchant if merchant_name else display or "VowRewards",
                                  address))
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = "%s: %s" % (merchant, title)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = "<%s@%s>" % (message_id, address.rpartition("@")[2] or "vowrewards.localhost")
    message.set_content(TEXT.substitute(values))
    message.add_alternative(HTML.substitute({key: html.escape(str(value)) for key, value in values.items()}),
                            subtype="html")
    return message


# -- support addresses and reply tokens ---------------------------------------------------------
def default_support_local(merchant_id):
    """A merchant's support address before anyone names one: ``m`` + 11 base32 characters of its id,
    short enough that a reply token still fits the 64 characters of an address's local part."""
    return "m" + _b32(bytes.fromhex(str(merchant_id).replace("-", "")))[:11]


def _b32(data):
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb32(text):
    text = text.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _mac(secret, data):
    return hmac.new(secret.encode(), b"vowrewards-reply:" + data, hashlib.sha256).digest()[:10]


def reply_token(secret, ticket_reference=None, conversation_id=None):
    """``<what>.<mac>``: what a reply answers (``t`` + a ticket reference, ``c`` + a conversation's
    16 bytes), signed with the notification service's secret."""
    if not secret:
        raise RuntimeError("NOTIFICATION_REPLY_SECRET is not configured: replies cannot be matched")
    if conversation_id:
        data = b"c" + bytes.fromhex(str(conversation_id).replace("-", ""))
    else:
        data = b"t" + ticket_reference.encode()
    return "%s.%s" % (_b32(data), _b32(_mac(secret, data)))


def read_reply_token(secret, token):
    """``("ticket", "SUP-104")``, ``("conversation", uuid)``, or None (unsigned, forged, malformed)."""
    if not secret or not token or not re.fullmatch(r"[a-z2-7]{2,60}\.[a-z2-7]{16}", token):
        return None
    what, mac = token.split(".")
    try:
        data, mac = _unb32(what), _unb32(mac)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, _mac(secret, data)):
        return None
    if data[:1] == b"c" and len(data) == 17:
        hexed = data[1:].hex()
        return "conversation", "%s-%s-%s-%s-%s" % (hexed[:8], hexed[8:12], hexed[12:16], hexed[16:20], hexed[20:])
    if data[:1] == b"t":
        return "ticket", data[1:].decode("ascii", "replace")
    return None


def reply_address(secret, support_local, domain, ticket_reference=None, conversation_id=None):
    return "%s+%s@%s" % (support_local, reply_token(secret, ticket_reference, conversation_id), domain)


def split_address(address):
    """``("m1a2b3c4d5e6f", "token or None")`` from ``local[+token]@domain``."""
    local = (address or "").rpartition("@")[0].lower()
    base, _, token = local.partition("+")
    return base, token or None


def reply_secret(env):
    """``NOTIFICATION_REPLY_SECRET``, or the contents of the file ``NOTIFICATION_REPLY_SECRET_FILE`` names."""
    inline, path = env("NOTIFICATION_REPLY_SECRET"), env("NOTIFICATION_REPLY_SECRET_FILE")
    if inline or not path:
        return inline
    with open(path) as secret:
        return secret.read().strip()
