"""Managing users: disabling and enabling, roles, stores, passwords, and the platform's own users.

Owners manage their own merchant's users; platform admins manage everyone, and
only they create and manage platform users. Every change is audited (who, as
what role, when, what changed). Disabling a user, or changing their role, store
or password, ends every session of theirs: their tokens are refused everywhere
within moments (``gateway.auth.Sessions.revoke_user``).
"""
import uuid

from gateway import storage
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import (AuditQuerySchema, DirectoryEntrySchema, DirectoryQuerySchema, PasswordChangeSchema,
                             PasswordSetSchema, PlatformUserCreateSchema, UserAuditSchema, UserSchema,
                             UserUpdateSchema, page_of)
from plumbing.auth import ADMIN, MERCHANT_ROLES, MERCHANT_STAFF, OWNER, PLATFORM_ROLES, STORE_USER, SYSTEM
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from plumbing.fields import Page, new_id
from plumbing.hashing import PASSWORDS
from plumbing.idempotency import idempotent
from plumbing.validation import load

TAG = "Users"
FIELDS = ("active", "role", "store_id", "display_name", "email")


def plain(value):
    return str(value) if isinstance(value, uuid.UUID) else value


def audit(tx, identity, user, action, changes):
    storage.insert_audit(tx, {"id": new_id(), "merchant_id": user["merchant_id"], "user_id": user["id"],
                              "action": action, "changes": changes, "actor": identity.actor()})


def add_user(tx, identity, user):
    """Insert a new user (audited); the stored user, dumped."""
    if not storage.insert_new_user(tx, user):
        raise Conflict("The username %s is taken" % user["username"], code="username_taken",
                       fields={"username": ["Already taken."]})
    audit(tx, identity, user, "created", {field: [None, plain(user.get(field))]
                                          for field in ("username", "role", "store_id") if user.get(field)})
    return UserSchema().dump(storage.user_by_id(tx, user["id"]))


class UserRoutes(Routes):
    # -- the directory: whom the services' own work reaches ----------------------------------
    @rpc
    def directory(self, query):
        """The active users a service must reach (a ticket's people, a support roster, finance to
        tell): ``{"merchant_id", "roles", "store_id", "user_ids"}`` -> ``{"items": [{"user_id",
        "merchant_id", "store_id", "username", "display_name", "email", "role"}]}``. Asked by a
        service's own work (``Identity.system``), or by the merchant's own staff for their merchant;
        the platform's own users (``merchant_id`` None) only by a service."""
        identity = self.identity.require(SYSTEM, *MERCHANT_STAFF)
        query = load(DirectoryQuerySchema, query or {})
        if query["merchant_id"] is None and identity.role != SYSTEM:
            merchant_id = identity.merchant_scope(None)  # the caller's own (an admin must name one)
        else:
            merchant_id = query["merchant_id"] if identity.role == SYSTEM else identity.merchant_scope(
                query["merchant_id"])
        rows = storage.directory(self.db, merchant_id, query["roles"], query["store_id"], query["user_ids"])
        return {"items": DirectoryEntrySchema(many=True).dump(rows)}

    # -- one user --------------------------------------------------------------------------
    def _target(self, identity, user_id):
        """The user ``identity`` may manage, locked (with changes to its merchant's users)."""
        user = storage.user_by_id(self.db, user_id)
        if user is None or not (identity.is_admin or (
                user["merchant_id"] is not None and str(user["merchant_id"]) == identity.merchant_id)):
            raise NotFound("No user %s" % user_id, code="user_not_found")
        storage.lock_user_changes(self.db, user["merchant_id"])
        return storage.user_for_update(self.db, user_id)

    @route("GET", "/api/v1/users/<uuid:user_id>", summary="One user (owners: of their merchant; admins: any)",
           tags=[TAG], response=UserSchema)
    def get_user(self, request, user_id):
        identity = self.identity.require(ADMIN, OWNER)
        user = storage.user_by_id(self.db, str(user_id))
        if user is None or not (identity.is_admin or str(user["merchant_id"]) == identity.merchant_id):
            raise NotFound("No user %s" % user_id, code="user_not_found")
        return UserSchema().dump(user)

    @route("PATCH", "/api/v1/users/<uuid:user_id>",
           summary="Disable or enable a user, change their role, store or name (disabling, a new role or "
                   "store ends their sessions)", tags=[TAG], body=UserUpdateSchema, response=UserSchema)
    def update_user(self, request, user_id):
        identity = self.identity.require(ADMIN, OWNER)
        data = self.body(request, UserUpdateSchema)
        user = self._target(identity, str(user_id))
        changes = self._changes(identity, user, data)
        if changes:
            self._keep_the_last(identity, user, changes)
            storage.update_user(self.db, user["id"], {field: after for field, (_, after) in changes.items()})
            audit(self.db, identity, user, "updated", changes)
            reason = ("disabled" if changes.get("active", [None, True])[1] is False else
                      "role_changed" if "role" in changes else "store_changed" if "store_id" in changes else None)
            if reason:
                self.sessions.revoke_user(self.db, user["id"], reason)
        return UserSchema().dump(storage.user_by_id(self.db, user["id"]))

    def _changes(self, identity, user, data):
        """What ``data`` changes, as {field: [before, after]}; refuses roles and stores that do not fit."""
        platform_user = user["merchant_id"] is None
        role = data.get("role", user["role"])
        if platform_user and role not in PLATFORM_ROLES:
            raise ValidationFailed("A platform user has a platform role", code="role_not_allowed",
                                   fields={"role": ["One of: %s." % ", ".join(PLATFORM_ROLES)]})
        if not platform_user and role not in MERCHANT_ROLES:
            raise ValidationFailed("A merchant's user has a merchant role", code="role_not_allowed",
                                   fields={"role": ["One of: %s." % ", ".join(MERCHANT_ROLES)]})
        wanted = dict(data)
        if role == STORE_USER:
            store_id = data["store_id"] if "store_id" in data else plain(user["store_id"])
            if not store_id:
                raise ValidationFailed("A store user is bound to one store", code="store_required",
                                       fields={"store_id": ["A store user is bound to one store."]})
            self.check_store(identity, store_id, user["merchant_id"])
            wanted["store_id"] = store_id
        elif data.get("store_id"):
            raise ValidationFailed("Only store users are bound to a store", code="validation_failed",
                                   fields={"store_id": ["Only store users are bound to a store."]})
        else:
            wanted["store_id"] = None
        changes = {}
        for field in FIELDS:
            if field in wanted and wanted[field] != plain(user[field]):
                changes[field] = [plain(user[field]), wanted[field]]
        return changes

    def _keep_the_last(self, identity, user, changes):
        """An owner may not demote or disable the merchant's last active owner; nobody the last admin."""
        if not user["active"] or (changes.get("role", [None, user["role"]])[1] == user["role"]
                                  and changes.get("active", [None, True])[1] is not False):
            return  # stays what it was
        others = [i for i in storage.active_users_with_role(self.db, user["role"], user["merchant_id"])
                  if i != str(user["id"])]
        if others:
            return
        if user["role"] == OWNER and identity.role == OWNER:
            raise Conflict("This is the merchant's last active owner: make another owner first",
                           code="last_owner")
        if user["role"] == ADMIN:
            raise Conflict("This is the platform's last active admin: make another admin first",
                           code="last_admin")

    # -- passwords ---------------------------------------------------------------------------
    @route("PUT", "/api/v1/users/<uuid:user_id>/password",
           summary="Set another user's password (owners: their merchant's users; admins: anyone); ends "
                   "that user's sessions", tags=[TAG], body=PasswordSetSchema, status=204)
    def set_password(self, request, user_id):
        identity = self.identity.require(ADMIN, OWNER)
        data = self.body(request, PasswordSetSchema)
        if str(user_id) == identity.user_id:
            raise Forbidden("Change your own password with POST /api/v1/me/password: it needs your "
                            "current one", code="own_password")
        password_hash = PASSWORDS.hash(data["new_password"])  # slow: before taking any lock
        user = self._target(identity, str(user_id))
        storage.update_user(self.db, user["id"], {"password_hash": password_hash})
        audit(self.db, identity, user, "password_set", {})
        self.sessions.revoke_user(self.db, user["id"], "password_set")
        return 204, ""

    @route("POST", "/api/v1/me/password",
           summary="Change your own password (with your current one); every session of yours ends, "
                   "this one too: sign in again", tags=[TAG], body=PasswordChangeSchema, status=204)
    def change_own_password(self, request):
        identity = self.identity
        data = self.body(request, PasswordChangeSchema)
        password_hash = PASSWORDS.hash(data["new_password"])
        user = storage.user_for_update(self.db, identity.user_id)
        if user is None:
            raise NotFound("Your user no longer exists", code="user_not_found")
        if not PASSWORDS.matches(user["password_hash"], data["current_password"]):
            raise ValidationFailed("Your current password is not right", code="wrong_password",
                                   fields={"current_password": ["Wrong password."]})
        storage.update_user(self.db, user["id"], {"password_hash": password_hash})
        audit(self.db, identity, user, "password_changed", {})
        self.sessions.revoke_user(self.db, user["id"], "password_changed")
        return 204, ""

    # -- the platform's own users ----------------------------------------------------------------
    @route("POST", "/api/v1/platform/users",
           summary="Add a platform user (admin, platform finance, platform support, IT support): admins only",
           tags=[TAG], body=PlatformUserCreateSchema, response=UserSchema, status=201)
    @idempotent
    def create_platform_user(self, request):
        identity = self.identity.require(ADMIN)
        data = self.body(request, PlatformUserCreateSchema)
        password_hash = PASSWORDS.hash(data["password"])
        user = {"id": new_id(), "merchant_id": None, "store_id": None, "username": data["username"],
                "display_name": data["display_name"], "email": data["email"], "role": data["role"],
                "password_hash": password_hash, "created_by": identity.actor()}
        return 201, add_user(self.db, identity, user)

    @route("GET", "/api/v1/platform/users", summary="The platform's users (admins only)", tags=[TAG],
           query=Page, response=page_of(UserSchema))
    def list_platform_users(self, request):
        self.identity.require(ADMIN)
        filters = self.query(request, Page)
        return storage.list_platform_users(self.db, filters, UserSchema().dump)

    @route("GET", "/api/v1/platform/user-audit",
           summary="Who changed which platform user, when and how (admins only)", tags=[TAG],
           query=AuditQuerySchema, response=page_of(UserAuditSchema))
    def platform_user_audit(self, request):
        self.identity.require(ADMIN)
        filters = self.query(request, AuditQuerySchema)
        return storage.list_audit(self.db, None, filters, UserAuditSchema().dump)
