"""A stand-in for the gateway's ``directory`` RPC (whom a service's own work reaches), for service tests
of the notification service: people are registered per test with ``people.add(role, merchant_id, ...)``."""
import uuid

import pytest

from plumbing.entrypoints import rpc
from tests.service.conftest import started


class FakeGateway:
    name = "gateway"
    people = []

    @rpc
    def directory(self, query):
        def fits(person):
            return (person["merchant_id"] == query.get("merchant_id")
                    and (not query.get("roles") or person["role"] in query["roles"])
                    and (not query.get("store_id") or person["store_id"] == query["store_id"])
                    and (not query.get("user_ids") or person["user_id"] in query["user_ids"]))
        return {"items": [dict(p) for p in FakeGateway.people if fits(p)]}


class People:
    def __init__(self, as_user):
        self.as_user = as_user

    def add(self, role, merchant_id, store_id=None, email=None):
        """The context data of a new active user of the merchant, known to the directory."""
        user_id = str(uuid.uuid4())
        FakeGateway.people.append({"user_id": user_id, "merchant_id": merchant_id, "store_id": store_id,
                                   "username": role + user_id[:6], "display_name": None, "email": email,
                                   "role": role})
        return dict(self.as_user(role, merchant_id=merchant_id, store_id=store_id, user_id=user_id), user_id=user_id)


@pytest.fixture(scope="module")
def fake_gateway(make_config):
    with started(FakeGateway, make_config("gateway")) as container:
        yield container


@pytest.fixture
def people(fake_gateway, as_user):
    return People(as_user)


class FakeCampaign:
    """Campaign's ``get_customer_contact``, answering from ``FakeCampaign.customers`` (id -> contact)."""
    name = "campaign"
    customers = {}

    @rpc
    def get_customer_contact(self, customer_id, merchant_id=None):
        from plumbing.errors import NotFound
        contact = FakeCampaign.customers.get(customer_id)
        if contact is None or (merchant_id and contact["merchant_id"] != merchant_id):
            raise NotFound("No customer %s" % customer_id, code="customer_not_found")
        return dict(contact, customer_id=customer_id)


@pytest.fixture(scope="module")
def fake_campaign(make_config):
    with started(FakeCampaign, make_config("campaign")) as container:
        yield container
