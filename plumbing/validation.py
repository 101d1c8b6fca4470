"""Marshmallow at every boundary: bad input becomes a ``ValidationFailed`` naming each field."""
import functools
import uuid

from marshmallow import ValidationError

from plumbing.errors import ValidationFailed


def flatten_messages(messages, prefix=""):
    """``{"a": {"b": ["msg"]}}`` -> ``{"a.b": ["msg"]}`` (lists of strings stay as they are)."""
    flat = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "%s.%s" % (prefix, key) if prefix else str(key)
            if isinstance(value, dict):
                flat.update(flatten_messages(value, name))
            else:
                flat[name] = value if isinstance(value, list) else [str(value)]
    else:
        flat[prefix or "_schema"] = messages if isinstance(messages, list) else [str(messages)]
    return flat


@functools.lru_cache(maxsize=None)
def instance_of(schema_class):
    """One instance per schema class: building a Schema deep-copies its fields, loading does not."""
    return schema_class()


def load(schema, data, message="Some fields are not valid", **kwargs):
    """``schema`` (a class, or an instance) loads ``data`` or raises ValidationFailed naming each field."""
    if isinstance(schema, type):
        schema = instance_of(schema)
    if data is None:
        data = {}
    try:
        return schema.load(data, **kwargs)
    except ValidationError as err:
        raise ValidationFailed(message, fields=flatten_messages(err.messages))


def require_id(value, field="id"):
    """A UUID string, or a ValidationFailed naming the field (never a database error)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValidationFailed("%s is not a valid id" % field, code="invalid_id",
                               fields={field: ["Not a valid UUID."]})
