"""A buyer app acts for the customer the gateway vouched for; nobody else acts for a customer."""
import uuid
from types import SimpleNamespace

import pytest

from plumbing.auth import ACTING_CUSTOMER_KEY, CallerContext, TokenSigner, TokenVerifier, generate_keypair
from plumbing.errors import ValidationFailed

PRIVATE, PUBLIC = generate_keypair()
SIGNER, VERIFIER = TokenSigner(PRIVATE), TokenVerifier(PUBLIC)


def identity(role, **data):
    token, _ = SIGNER.sign(str(uuid.uuid4()), role, role, merchant_id=str(uuid.uuid4()))
    context = SimpleNamespace(data=dict(data, auth_token=token), service_name="support")
    return CallerContext(VERIFIER, context, acts_as_user=True).identity


def test_a_buyer_app_acts_for_the_named_customer():
    customer = str(uuid.uuid4())
    app = identity("buyer_app", **{ACTING_CUSTOMER_KEY: customer})
    assert app.customer_id == customer and app.is_client
    assert identity("buyer_app").customer_id is None


def test_nobody_else_acts_for_a_customer():
    for role in ("owner", "store_user", "pos", "logistics_partner", "admin"):
        assert identity(role, **{ACTING_CUSTOMER_KEY: str(uuid.uuid4())}).customer_id is None


def test_a_malformed_customer_is_refused():
    with pytest.raises(ValidationFailed):
        identity("buyer_app", **{ACTING_CUSTOMER_KEY: "1 OR 1=1"})
