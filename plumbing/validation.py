"""Marshmallow at every boundary: bad input becomes a ``ValidationFailed`` naming each field.

Before any schema sees it, input is checked for what no schema thinks of but
PostgreSQL or the JSON encoder chokes on: NUL characters, lone surrogates and
structures nested deeper than any of our contracts. Error answers are bounded
(how many fields they list, how long each message is) so a hostile body cannot
make a huge answer.
"""
import functools
import re
import uuid

from marshmallow import ValidationError

from plumbing.errors import ValidationFailed

MAX_DEPTH = 32  # our deepest contract is three levels; kombu and json recurse per level
MAX_ERROR_FIELDS = 20
MAX_MESSAGES_PER_FIELD = 3
MAX_MESSAGE_LENGTH = 200
MAX_FIELD_NAME_LENGTH = 100
# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")
FORBIDDEN_TEXT_MESSAGE = "Contains a character that is not allowed (NUL or a lone surrogate)."


def bad_text(text):
    """True when ``text`` holds a character no database column may hold."""
    return _FORBIDDEN_TEXT.search(text) is not None


def check_structure(data, max_depth=MAX_DEPTH):
    """Raise ValidationFailed for text no column may hold, or nesting deeper than ``max_depth``.

    Iterative, so hostile depth cannot exhaust the stack; keys are checked like values.
    """
    stack = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if bad_text(value):
                raise ValidationFailed("Some fields are not valid", code="invalid_text",
                                       fields={path or "_schema": [FORBIDDEN_TEXT_MESSAGE]})
            continue
        if not isinstance(value, (dict, list, tuple)):
            continue
        if depth >= max_depth:
            raise ValidationFailed("The input is nested too deeply", code="too_deeply_nested",
                                   fields={path or "_schema": ["Nested more than %d levels." % max_depth]})
        if isinstance(value, dict):
            for key, item in value.items():
                name = "%s.%s" % (path, key) if path else str(key)
                if isinstance(key, str) and bad_text(key):
                    raise ValidationFailed("Some fields are not valid", code="invalid_text",
                                           fields={"_schema": [FORBIDDEN_TEXT_MESSAGE]})
                stack.append((item, name, depth + 1))
        else:
            for index, item in enumerate(value):
                stack.append((item, "%s.%d" % (path, index) if path else str(index), depth + 1))


def _clip(text, limit):
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bounded_fields(fields):
    """At most MAX_ERROR_FIELDS fields, each with a few short messages (and a note of what was left out)."""
    if not isinstance(fields, dict):
        return {}
    bounded = {}
    for name, messages in list(fields.items())[:MAX_ERROR_FIELDS]:
        if not isinstance(messages, (list, tuple)):
            messages = [messages]
        bounded[_clip(name, MAX_FIELD_NAME_LENGTH)] = [
            _clip(message, MAX_MESSAGE_LENGTH) for message in messages[:MAX_MESSAGES_PER_FIELD]]
    if len(fields) > MAX_ERROR_FIELDS:
        bounded["_more"] = ["%d more fields are not valid." % (len(fields) - MAX_ERROR_FIELDS)]
    return bounded


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
    check_structure(data)
    try:
        return schema.load(data, **kwargs)
    except ValidationError as err:
        raise ValidationFailed(message, fields=bounded_fields(flatten_messages(err.messages)))


def require_id(value, field="id"):
    """A UUID string, or a ValidationFailed naming the field (never a database error)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValidationFailed("%s is not a valid id" % field, code="invalid_id",
                               fields={field: ["Not a valid UUID."]})
