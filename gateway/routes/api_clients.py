"""API clients: an owner registers the merchant's machines (POS terminals, buyer apps, logistics
partners), rotates their secrets and revokes them; the token route trades a client's id and secret
for an access token (``gateway/routes/auth.py``). See ``gateway/clients.py``."""
from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from nameko.dependency_providers import Config

from gateway import clients
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import CLIENT_ROLES, OWNERS, POS
from plumbing.errors import NotFound
from plumbing.fields import AwareDateTime, Id, MerchantPage, MerchantQuery, Name, new_id

TAG = "API clients"


class ApiClientCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(CLIENT_ROLES), metadata={
        "description": "pos (a till terminal bound to one store), buyer_app (acts for a customer it names "
                       "per request in the X-Customer-Id header), logistics_partner (tickets cascaded to it)"})
    name = Name(required=True)
    store_id = Id(load_default=None, metadata={"description": "Required for pos, refused otherwise"})

    @validates_schema
    def store_for_pos(self, data, **kwargs):
        if data["kind"] == POS and not data.get("store_id"):
            raise ValidationError("A POS client is bound to one store.", "store_id")
        if data["kind"] != POS and data.get("store_id"):
            raise ValidationError("Only a POS client is bound to a store.", "store_id")


class ApiClientSchema(Schema):
    client_id = Id(attribute="id")
    merchant_id = Id()
    store_id = Id(allow_none=True)
    kind = fields.String()
    name = fields.String()
    created_by = fields.Dict()
    created_at = AwareDateTime()
    last_used_at = AwareDateTime(allow_none=True)
    revoked_at = AwareDateTime(allow_none=True)


class ApiClientSecretSchema(ApiClientSchema):
    client_secret = fields.String(metadata={"description": "Shown once: only its hash is kept"})
    previous_secret_valid_until = AwareDateTime(allow_none=True, metadata={
        "description": "After a rotation: until when the secrets it replaced still work"})


class ApiClientRoutes(Routes):
    client_config = Config()

    def _client(self, identity, client_id, merchant_id=None, lock=False):
        client = clients.client_by_id(self.db, client_id, lock=lock)
        if client is None or str(client["merchant_id"]) != identity.merchant_scope(merchant_id):
            raise NotFound("No API client %s" % client_id, code="api_client_not_found")
        return client

    @route("POST", "/api/v1/api-clients",
           summary="Register an API client (owners; admins name ?merchant_id): the secret is in this answer "
                   "only", tags=[TAG], query=MerchantQuery, body=ApiClientCreateSchema,
           response=ApiClientSecretSchema, status=201)
    def create_api_client(self, request):
        identity = self.identity.require(*OWNERS)
        merchant_id = identity.merchant_scope(self.query(request, MerchantQuery).get("merchant_id"))
        data = self.body(request, ApiClientCreateSchema)
        self.check_store(identity, data["store_id"], merchant_id)
        client = dict(data, id=new_id(), merchant_id=merchant_id, created_by=identity.actor())
        clients.insert_client(self.db, client)
        secret = clients.new_secret()
        clients.insert_secret(self.db, new_id(), client["id"], secret)
        answer = ApiClientSchema().dump(clients.client_by_id(self.db, client["id"]))
        return 201, dict(answer, client_secret=secret, previous_secret_valid_until=None)

    @route("GET", "/api/v1/api-clients", summary="The merchant's API clients, newest first (never a secret)",
           tags=[TAG], query=MerchantPage, response=page_of(ApiClientSchema))
    def list_api_clients(self, request):
        identity = self.identity.require(*OWNERS)
        filters = self.query(request, MerchantPage)
        return clients.list_clients(self.db, identity.merchant_scope(filters.get("merchant_id")), filters,
                                    ApiClientSchema().dump)

    @route("GET", "/api/v1/api-clients/<uuid:client_id>", summary="One API client", tags=[TAG],
           query=MerchantQuery, response=ApiClientSchema)
    def get_api_client(self, request, client_id):
        identity = self.identity.require(*OWNERS)
        query = self.query(request, MerchantQuery)
        return ApiClientSchema().dump(self._client(identity, str(client_id), query.get("merchant_id")))

    @route("POST", "/api/v1/api-clients/<uuid:client_id>/secret",
           summary="Rotate the secret: a new one (in this answer only); the old ones keep working for the "
                   "grace period (API_CLIENT_GRACE_SECONDS, default a day)", tags=[TAG], query=MerchantQuery,
           response=ApiClientSecretSchema, status=201)
    def rotate_api_client_secret(self, request, client_id):
        identity = self.identity.require(*OWNERS)
        client = self._client(identity, str(client_id), self.query(request, MerchantQuery).get("merchant_id"),
                              lock=True)
        if client["revoked_at"] is not None:
            raise NotFound("API client %s was revoked" % client_id, code="api_client_revoked")
        until = clients.grace_until(self.client_config)
        clients.expire_secrets(self.db, client["id"], until)
        secret = clients.new_secret()
        clients.insert_secret(self.db, new_id(), client["id"], secret)
        return 201, dict(ApiClientSchema().dump(client), client_secret=secret, previous_secret_valid_until=until)

    @route("DELETE", "/api/v1/api-clients/<uuid:client_id>",
           summary="Revoke an API client: its secrets stop working and its tokens are refused at once, everywhere",
           tags=[TAG], query=MerchantQuery, status=204)
    def revoke_api_client(self, request, client_id):
        identity = self.identity.require(*OWNERS)
        client = self._client(identity, str(client_id), self.query(request, MerchantQuery).get("merchant_id"),
                              lock=True)
        now = datetime.now(timezone.utc)
        if clients.revoke(self.db, client["id"], identity.actor(), now):
            clients.expire_secrets(self.db, client["id"], now)
            self.sessions.revoke_client(self.db, str(client["id"]), "client_revoked")
        return 204, ""
