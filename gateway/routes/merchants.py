"""Onboarding: platform admins create merchants; admins and owners add stores and users."""
from gateway import storage
from gateway.http import route
from gateway.routes.base import Routes
from gateway.routes.users import add_user
from gateway.schemas import (AuditQuerySchema, MerchantCreateSchema, MerchantSchema,
                             StoreCreateSchema, StoreSchema, UserAuditSchema, UserCreateSchema, UserSchema,
                             page_of)
from plumbing.auth import ADMIN, FINANCE, OWNER, SUPPORT_AGENT
from plumbing.errors import Conflict, Forbidden, NotFound
from plumbing.fields import Page, new_id
from plumbing.hashing import PASSWORDS
from plumbing.idempotency import idempotent

TAG = "Onboarding"


def dump_merchant(row, stores):
    """A merchant with its (already dumped) stores."""
    return dict(MerchantSchema(exclude=("stores",)).dump(row), stores=stores)


class MerchantRoutes(Routes):
    @route("POST", "/api/v1/merchants", summary="Onboard a merchant (platform admins)", tags=[TAG],
           body=MerchantCreateSchema, response=MerchantSchema, status=201, max_body=1024 * 1024)
    @idempotent
    def create_merchant(self, request):
        identity = self.identity.require(ADMIN)
        data = self.body(request, MerchantCreateSchema)
        return 201, self._onboard(identity, data)

    def _onboard(self, identity, data):
        if storage.merchant_by_name(self.db, data["name"]) is not None:
            raise Conflict("A merchant named %s already exists" % data["name"], code="merchant_exists",
                           fields={"name": ["Already taken."]})
        merchant = {"id": new_id(), "name": data["name"], "currency": data["currency"],
                    "contact_email": data.get("contact_email"), "created_by": identity.actor()}
        if not storage.insert_merchant(self.db, merchant):  # named just now by a concurrent request
            raise Conflict("A merchant named %s already exists" % data["name"], code="merchant_exists",
                           fields={"name": ["Already taken."]})
        stores = [self._add_store(merchant["id"], store) for store in data["stores"]]
        return dump_merchant(storage.merchant_by_id(self.db, merchant["id"]), stores)

    def _add_store(self, merchant_id, data):
        store = dict(data, id=new_id(), merchant_id=merchant_id)
        if not storage.insert_store(self.db, store):
            raise Conflict("A store named %s already exists here" % data["name"], code="store_exists",
                           fields={"name": ["Already taken."]})
        return StoreSchema().dump(storage.store_by_id(self.db, store["id"]))

    @route("GET", "/api/v1/merchants", summary="Merchants you can see", tags=[TAG],
           query=Page, response=page_of(MerchantSchema))
    def list_merchants(self, request):
        identity = self.identity
        filters = self.query(request, Page)
        if identity.is_platform:
            return storage.list_merchants(self.db, filters, MerchantSchema(exclude=("stores",)).dump)
        merchant = storage.merchant_by_id(self.db, identity.merchant_id)
        return {"items": [MerchantSchema(exclude=("stores",)).dump(merchant)], "next": None}

    def _merchant(self, merchant_id, *roles):
        identity = self.identity.require(*roles)
        if not identity.can_see_merchant(merchant_id):
            raise NotFound("No merchant %s" % merchant_id, code="merchant_not_found")
        merchant = storage.merchant_by_id(self.db, merchant_id)
        if merchant is None:
            raise NotFound("No merchant %s" % merchant_id, code="merchant_not_found")
        return identity, merchant

    @route("GET", "/api/v1/merchants/<uuid:merchant_id>", summary="One merchant", tags=[TAG],
           response=MerchantSchema)
    def get_merchant(self, request, merchant_id):
        _, merchant = self._merchant(str(merchant_id), ADMIN, OWNER, FINANCE, SUPPORT_AGENT)
        stores = storage.list_stores(self.db, merchant["id"], {"limit": 200}, StoreSchema().dump)
        return dump_merchant(merchant, stores["items"])

    @route("POST", "/api/v1/merchants/<uuid:merchant_id>/stores", summary="Add a store (branch)",
           tags=[TAG], body=StoreCreateSchema, response=StoreSchema, status=201)
    @idempotent
    def create_store(self, request, merchant_id):
        _, merchant = self._merchant(str(merchant_id), ADMIN, OWNER)
        data = self.body(request, StoreCreateSchema)
        return 201, self._add_store(merchant["id"], data)

    @route("GET", "/api/v1/merchants/<uuid:merchant_id>/stores", summary="A merchant's stores",
           tags=[TAG], query=Page, response=page_of(StoreSchema))
    def list_stores(self, request, merchant_id):
        _, merchant = self._merchant(str(merchant_id), ADMIN, OWNER, FINANCE, SUPPORT_AGENT)
        return storage.list_stores(self.db, merchant["id"], self.query(request, Page),
                                   StoreSchema().dump)

    @route("POST", "/api/v1/merchants/<uuid:merchant_id>/users",
           summary="Add a user (owner, store user, support agent or finance)", tags=[TAG],
           body=UserCreateSchema, response=UserSchema, status=201)
    @idempotent
    def create_user(self, request, merchant_id):
        identity, merchant = self._merchant(str(merchant_id), ADMIN, OWNER)
        data = self.body(request, UserCreateSchema)
        return 201, self._add_user(identity, merchant, data)

    def _add_user(self, identity, merchant, data):
        if data.get("store_id"):
            self.check_store(identity, data["store_id"], merchant["id"])
        if data["role"] == OWNER and not identity.is_admin and identity.role != OWNER:
            raise Forbidden("Only owners and admins add owners", code="role_not_allowed")
        password_hash = PASSWORDS.hash(data.pop("password"))
        user = dict(data, id=new_id(), merchant_id=merchant["id"], created_by=identity.actor(),
                    password_hash=password_hash)
        return add_user(self.db, identity, user)

    @route("GET", "/api/v1/merchants/<uuid:merchant_id>/users", summary="A merchant's users",
           tags=[TAG], query=Page, response=page_of(UserSchema))
    def list_users(self, request, merchant_id):
        _, merchant = self._merchant(str(merchant_id), ADMIN, OWNER)
        return storage.list_users(self.db, merchant["id"], self.query(request, Page),
                                  UserSchema().dump)

    @route("GET", "/api/v1/merchants/<uuid:merchant_id>/user-audit",
           summary="Who changed which of a merchant's users, when, as what role, and what changed",
           tags=[TAG], query=AuditQuerySchema, response=page_of(UserAuditSchema))
    def user_audit(self, request, merchant_id):
        _, merchant = self._merchant(str(merchant_id), ADMIN, OWNER)
        return storage.list_audit(self.db, merchant["id"], self.query(request, AuditQuerySchema),
                                  UserAuditSchema().dump)
