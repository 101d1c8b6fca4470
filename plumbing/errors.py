"""Errors that cross service boundaries.

Every error a user can act on is an ``AppError``: it carries a stable ``code``,
a human ``message`` and, for bad input, ``fields`` naming what was wrong. They
are registered with nameko so a service's error arrives at the gateway as the
same type (not a ``RemoteError``) and maps to one HTTP status.
"""
from nameko.exceptions import deserialize_to_instance


class AppError(Exception):
    status = 400
    default_code = "bad_request"

    def __init_subclass__(cls, **kwargs):
        # nameko turns an unregistered type into a RemoteError (a 500 at the gateway), so
        # every error that crosses a boundary is one of these; say *why* with its code
        super().__init_subclass__(**kwargs)
        if cls.__module__ != __name__:
            raise TypeError("raise one of plumbing.errors' types with a code, not a subclass (%s)"
                            % cls.__qualname__)

    def __init__(self, message, code=None, fields=None):
        # args are exactly what nameko serialises and passes back to __init__
        super().__init__(message, code or self.default_code, fields or {})

    @property
    def message(self):
        return self.args[0]

    @property
    def code(self):
        return self.args[1]

    @property
    def fields(self):
        return self.args[2]

    def as_dict(self):
        return {"code": self.code, "message": self.message, "fields": self.fields}


@deserialize_to_instance
class BadRequest(AppError):
    status = 400
    default_code = "bad_request"


@deserialize_to_instance
class ValidationFailed(AppError):
    status = 422
    default_code = "validation_failed"


@deserialize_to_instance
class Unauthenticated(AppError):
    status = 401
    default_code = "unauthenticated"


@deserialize_to_instance
class Forbidden(AppError):
    status = 403
    default_code = "forbidden"


@deserialize_to_instance
class NotFound(AppError):
    status = 404
    default_code = "not_found"


@deserialize_to_instance
class Conflict(AppError):
    status = 409
    default_code = "conflict"


@deserialize_to_instance
class Locked(AppError):
    status = 423
    default_code = "locked"


@deserialize_to_instance
class TooManyRequests(AppError):
    status = 429
    default_code = "too_many_requests"


@deserialize_to_instance
class PayloadTooLarge(AppError):
    status = 413
    default_code = "payload_too_large"


@deserialize_to_instance
class UnsupportedMediaType(AppError):
    status = 415
    default_code = "unsupported_media_type"


@deserialize_to_instance
class ServiceUnavailable(AppError):
    status = 503
    default_code = "service_unavailable"


EXPECTED_ERRORS = (AppError,)
