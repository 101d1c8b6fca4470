"""Schemas the gateway owns: sign-in, merchants, stores, users, errors and pages."""
import functools
import unicodedata

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.auth import MERCHANT_ROLES, PLATFORM_ROLES, ROLES
from plumbing.fields import AwareDateTime, Currency, Id, Name, Page, Username

STORE_KINDS = ("store", "kiosk", "outlet", "online")
PASSWORD = validate.Length(min=10, max=256)


class SignInName(fields.String):
    """A username as typed at sign-in: NFKC-normalised like the names it is compared with, and
    otherwise taken as it is (a name that cannot exist is simply a wrong username)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return unicodedata.normalize("NFKC", super()._deserialize(value, attr, data, **kwargs)).strip()


class LoginSchema(Schema):
    username = SignInName(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200), load_only=True)


class SessionUserSchema(Schema):
    id = Id()
    username = fields.String()
    role = fields.String()
    merchant_id = Id(allow_none=True)
    store_id = Id(allow_none=True)


class TokenSchema(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    refresh_token = fields.String()
    user = fields.Nested(SessionUserSchema)


class StoreCreateSchema(Schema):
    name = Name(required=True, min_length=2, max_length=120)
    kind = fields.String(load_default="store", validate=validate.OneOf(STORE_KINDS))
    address = fields.String(load_default=None, validate=validate.Length(max=300))


class StoreSchema(Schema):
    id = Id()
    merchant_id = Id()
    name = fields.String()
    kind = fields.String()
    address = fields.String(allow_none=True)
    created_at = AwareDateTime()


class MerchantCreateSchema(Schema):
    name = Name(required=True, min_length=2, max_length=120)
    currency = Currency(required=True)
    contact_email = fields.Email(load_default=None)
    stores = fields.List(fields.Nested(StoreCreateSchema), load_default=list,
                         validate=validate.Length(max=200))

    @validates_schema
    def distinct_store_names(self, data, **kwargs):
        names = [store["name"].lower() for store in data.get("stores") or []]
        if len(names) != len(set(names)):
            raise ValidationError("Store names must differ.", "stores")


class MerchantSchema(Schema):
    id = Id()
    name = fields.String()
    currency = fields.String()
    contact_email = fields.String(allow_none=True)
    status = fields.String()
    created_at = AwareDateTime()
    stores = fields.List(fields.Nested(StoreSchema))


class UserCreateSchema(Schema):
    username = Username(required=True)
    password = fields.String(required=True, validate=PASSWORD, load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(MERCHANT_ROLES))
    store_id = Id(load_default=None)
    display_name = Name(load_default=None, max_length=120)
    email = fields.Email(load_default=None)

    @validates_schema
    def store_for_store_users(self, data, **kwargs):
        if data.get("role") == "store_user" and not data.get("store_id"):
            raise ValidationError("A store user is bound to one store.", "store_id")
        if data.get("role") != "store_user" and data.get("store_id"):
            raise ValidationError("Only store users are bound to a store.", "store_id")


class PlatformUserCreateSchema(Schema):
    username = Username(required=True)
    password = fields.String(required=True, validate=PASSWORD, load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(PLATFORM_ROLES))
    display_name = Name(load_default=None, max_length=120)
    email = fields.Email(load_default=None)


class UserUpdateSchema(Schema):
    """Only the fields sent change. Disabling, or changing the role or store, ends the user's sessions."""
    active = fields.Boolean(metadata={"description": "false disables the user, true enables them again"})
    role = fields.String(validate=validate.OneOf(ROLES),
                         metadata={"description": "Merchant roles for merchant users, platform roles for "
                                                  "platform users"})
    store_id = Id(allow_none=True, metadata={"description": "The store of a store user"})
    display_name = Name(allow_none=True, max_length=120)
    email = fields.Email(allow_none=True)

    @validates_schema
    def something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.", "_schema")


class PasswordSetSchema(Schema):
    new_password = fields.String(required=True, validate=PASSWORD, load_only=True)


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)
    new_password = fields.String(required=True, validate=PASSWORD, load_only=True)


class UserAuditSchema(Schema):
    id = Id()
    merchant_id = Id(allow_none=True)
    user_id = Id()
    username = fields.String(metadata={"description": "The user changed"})
    action = fields.String(metadata={"description": "created, updated, password_set or password_changed"})
    changes = fields.Dict(metadata={"description": "Each field changed: [before, after] (passwords: never)"})
    actor = fields.Dict(metadata={"description": "Who did it: user_id, username, role"})
    at = AwareDateTime()


class AuditQuerySchema(Page):
    user_id = Id(load_default=None)


class UserSchema(Schema):
    id = Id()
    merchant_id = Id(allow_none=True)
    store_id = Id(allow_none=True)
    username = fields.String()
    display_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    role = fields.String()
    active = fields.Boolean()
    last_login_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()




class ErrorDetailSchema(Schema):
    code = fields.String(metadata={"description": "Stable, machine-readable reason"})
    message = fields.String(metadata={"description": "What a person can act on"})
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Each bad field and what is wrong with it"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


@functools.lru_cache(maxsize=None)
def page_of(item_schema, **extra):
    """The ``{"items": [...], "next": ...}`` envelope of a list, for the OpenAPI document (with the
    ``extra`` fields a list answers beside them, such as an inbox's unread count)."""
    name = item_schema.__name__.replace("Schema", "") + "PageSchema"
    return Schema.from_dict(dict({
        "items": fields.List(fields.Nested(item_schema)),
        "next": fields.String(allow_none=True, metadata={"description": "Cursor of the next page, or null"}),
    }, **extra), name=name)


class DirectoryQuerySchema(Schema):
    """Whom a service's own work must reach (``gateway.directory``)."""
    merchant_id = Id(load_default=None, metadata={"description": "None: the platform's own users"})
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), load_default=None,
                        validate=validate.Length(min=1, max=len(ROLES)))
    store_id = Id(load_default=None)
    user_ids = fields.List(Id(), load_default=None, validate=validate.Length(min=1, max=500))


class DirectoryEntrySchema(Schema):
    user_id = Id(attribute="id")
    merchant_id = Id(allow_none=True)
    store_id = Id(allow_none=True)
    username = fields.String()
    display_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    role = fields.String()
