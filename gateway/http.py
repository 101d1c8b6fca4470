"""The gateway's HTTP entrypoint: JSON in, JSON out, every error a clear 4xx/5xx body.

``@route("POST", "/api/v1/vouchers", ...)`` is nameko's ``@http`` plus what
the API promises its callers:

* answers are JSON; errors are ``{"error": {"code", "message", "fields"}}``
  with the right status, never an HTML page or a stack trace, and bounded in
  size whatever was sent;
* a downstream service that is down or too slow is a 503 naming it;
* a route answers 401 before anything else unless it is declared ``public=True``:
  the caller is verified before a worker (and the handler) runs;
* the bearer token and a correlation id (``X-Request-ID``, kept when the
  caller sends a well-formed one) go into the worker's context data, so they
  follow the request through every RPC call and event; so does the
  ``Idempotency-Key`` (as ``idempotency_key``), to the service the route calls;
* each route carries the schemas and words the OpenAPI document is built from;
* a route that only passes a request on to one service method is declared with
  ``forward(...)``, not written out: the service validates what it is sent.

Before any route runs, the server makes sure a request is whole, on time and
clean: it has ``GATEWAY_READ_TIMEOUT`` seconds from its first byte to the end of
its headers, and as long again for its body plus a second per 32 KB of it (a
photo from a slow phone), an idle keep-alive connection is closed after
``GATEWAY_IDLE_TIMEOUT`` seconds, at most ``GATEWAY_MAX_CONNECTIONS`` are open
at once, a JSON body is at most ``GATEWAY_MAX_JSON_BYTES`` (uploads 8 MB), and
headers, path and query carry no NUL or line break.
"""
import functools
import ipaddress
import json
import logging
import re
import socket
import time
import uuid

from marshmallow import ValidationError
from nameko.exceptions import RemoteError
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import ClientDisconnected, HTTPException, LengthRequired
from werkzeug.wrappers import Request, Response

from plumbing.auth import TOKEN_CONTEXT_KEY, Caller
from plumbing.db import find_dependency
from plumbing.errors import AppError, BadRequest, UnsupportedMediaType, ValidationFailed
from plumbing.framework import (IDEMPOTENCY_KEY, BoundedWebServer, BoundSignature, FinishBeforeResult,
                                close_after_answer, deadline, read_deadline)
from plumbing.logs import CORRELATION_KEY, bind_correlation_id, reset_correlation_id
from plumbing.validation import (FORBIDDEN_TEXT_MESSAGE, bad_text, bounded_fields, check_structure,
                                 flatten_messages, load)

log = logging.getLogger(__name__)
access_log = logging.getLogger("vowrewards.access")

MAX_BODY_BYTES = 8 * 1024 * 1024  # a 5 MB photo of a QR code, as multipart, fits
MAX_JSON_BYTES = 64 * 1024  # every JSON contract fits; routes with long texts say so (max_body)
MAX_ERROR_MESSAGE = 500
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200
PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")  # werkzeug's <converter:name>

DEFAULT_READ_TIMEOUT = 15.0
MIN_BODY_RATE = 32 * 1024  # bytes/s a body must at least arrive at (beyond the read timeout)
DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer"}
# JSON is data, never a page: nothing loads, nothing runs, nobody frames it
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
# our SVGs (QR, barcode) carry inline styles and nothing else; PNG and CSV get no policy,
# which would only break a browser showing the image or saving the file
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"


def error_body(code, message, fields=None):
    message = str(message)
    if len(message) > MAX_ERROR_MESSAGE:
        message = message[:MAX_ERROR_MESSAGE - 1] + "…"
    return {"error": {"code": code, "message": message, "fields": bounded_fields(fields or {})}}


def json_response(status, body, headers=None):
    return Response(json.dumps(body, default=str), status=status, headers=headers,
                    mimetype="application/json")


def app_error_response(error):
    """An AppError as its status and error body; a 429 or 503 says when to come back."""
    headers = {}
    if error.status in (429, 503):
        retry_after = (error.fields or {}).get("retry_after")
        if isinstance(retry_after, (list, tuple)) and retry_after:
            retry_after = retry_after[0]
        if retry_after is not None and str(retry_after).isdigit() and str(retry_after).isascii():
            headers["Retry-After"] = str(retry_after)
        elif error.status == 429:
            headers["Retry-After"] = "1"
    return json_response(error.status, error_body(error.code, error.message, error.fields), headers)


def http_error_response(exc):
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
             415: "unsupported_media_type", 400: "bad_request", 408: "request_timeout", 411: "length_required"}
    response = json_response(exc.code or 400, error_body(codes.get(exc.code, "http_error"),
                                                         exc.description or exc.name))
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def secure(response, path):
    """The headers every API answer carries."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    mimetype = response.mimetype or ""
    if mimetype == "application/json" or mimetype.endswith("+json"):
        response.headers.setdefault("Content-Security-Policy", JSON_POLICY)
        response.headers.setdefault("Cache-Control", "no-store")  # answers name people, codes, money
    elif mimetype == "image/svg+xml":
        response.headers.setdefault("Content-Security-Policy", SVG_POLICY)
    if path.startswith("/api/v1/auth/"):
        response.headers["Cache-Control"] = "no-store"  # tokens are never kept by a cache
    return response


# -- who is calling ---------------------------------------------------------------------
def parse_networks(text):
    """``"10.0.0.0/8, 192.168.1.7"`` -> networks (a bad entry is a configuration error)."""
    if isinstance(text, (list, tuple)):
        text = ",".join(text)
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in (text or "").split(",") if part.strip())


def _ip(text):
    try:
        ip = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    return (ip.ipv4_mapped or ip) if ip.version == 6 else ip


def client_address(peer, forwarded_for, trusted):
    """The caller's address: the socket peer, unless that is a trusted proxy.

    Behind trusted proxies the ``X-Forwarded-For`` hops are read from the right
    (the nearest first); the first hop that is not a trusted proxy is the client.
    What a client writes into the header itself is never believed: it sits left
    of the hop our own proxy appended.
    """
    address = _ip(peer)
    if address is None:
        return peer or "unknown"
    if not forwarded_for or not any(address in network for network in trusted):
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _ip(hop)
        if hop_address is None:
            break  # garbage from beyond our proxies: the last proxy is who we know
        address = hop_address
        if not any(address in network for network in trusted):
            break
    return str(address)


# -- reading a request ----------------------------------------------------------------------
def check_request(request):
    """Refuse, before any work, headers, path or query no handler should have to think about."""
    request_id = request.headers.get(REQUEST_ID_HEADER)
    if request_id is not None and not REQUEST_ID.fullmatch(request_id):
        raise BadRequest("X-Request-ID must be 1 to 128 letters, digits or . _ : / + = @ -",
                         code="invalid_request_id", fields={REQUEST_ID_HEADER: ["Not a valid request id."]})
    for name, value in request.headers.items():
        if "\x00" in value or "\r" in value or "\n" in value:
            raise BadRequest("The %s header holds a control character" % name[:60], code="invalid_header",
                             fields={name[:60]: ["Must not contain NUL or line breaks."]})
    for name, value in (request.path_values or {}).items():
        if isinstance(value, str) and bad_text(value):
            raise BadRequest("The path is not valid", code="invalid_path", fields={name: [FORBIDDEN_TEXT_MESSAGE]})
    for name, value in request.args.items(multi=True):
        if bad_text(name) or bad_text(value):
            raise ValidationFailed("Some query parameters are not valid", code="invalid_text",
                                   fields={name if not bad_text(name) else "_query": [FORBIDDEN_TEXT_MESSAGE]})


def json_body(request):
    """The JSON object a request carries ({} without a body), checked for what no schema thinks of."""
    content_type = (request.mimetype or "").lower()
    raw = request.get_data(cache=True)
    if not raw:
        data = {}
    elif content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType("Send the body as application/json")
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            raise BadRequest("The body is not valid JSON", code="invalid_json")
        except RecursionError:
            raise BadRequest("The body is nested too deeply", code="invalid_json")
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object", code="invalid_body",
                               fields={"_schema": ["Expected a JSON object."]})
    check_structure(data)  # no NUL, no lone surrogate, no absurd nesting: whatever the route does next
    return data


def bearer_token(request):
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def idempotency_key(request):
    """The request's ``Idempotency-Key`` (None without one): at most 200 printable characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationFailed("Idempotency-Key must be at most %d printable characters" % MAX_IDEMPOTENCY_KEY,
                               code="idempotency_key_invalid",
                               fields={IDEMPOTENCY_HEADER: ["At most %d printable characters." % MAX_IDEMPOTENCY_KEY]})
    return key


class ApiRequest(Request):
    max_content_length = MAX_BODY_BYTES
    max_form_memory_size = MAX_BODY_BYTES
    client_address = None


class ApiServer(BoundedWebServer):
    """The gateway's web server: unknown paths and methods, oversized, slow or malformed requests
    are answered in JSON too, and every answer carries the security headers.

    A request has ``GATEWAY_READ_TIMEOUT`` seconds for its line and headers, and as long again for
    its body plus a second per 32 KB of it; an idle kept-alive connection is closed after
    ``GATEWAY_IDLE_TIMEOUT``; at most ``GATEWAY_MAX_CONNECTIONS`` are open at once."""

    def setup(self):
        config = self.container.config
        self.read_timeout = float(config.get("GATEWAY_READ_TIMEOUT") or DEFAULT_READ_TIMEOUT)
        self.idle_timeout = float(config.get("GATEWAY_IDLE_TIMEOUT") or DEFAULT_IDLE_TIMEOUT)
        self.max_connections = int(config.get("GATEWAY_MAX_CONNECTIONS") or DEFAULT_MAX_CONNECTIONS)
        self.max_json_bytes = int(config.get("GATEWAY_MAX_JSON_BYTES") or MAX_JSON_BYTES)
        self.trusted_proxies = parse_networks(config.get("GATEWAY_TRUSTED_PROXIES") or "")
        super().setup()

    def answer(self, environ, match):
        request = ApiRequest(environ)
        response = self._respond(request, environ, match)
        if response.status_code in (408, 411, 413):
            close_after_answer(environ)  # do not read (or wait for) the rest of what was refused
        return secure(response, request.path)

    def _respond(self, request, environ, match):
        timer = read_deadline(environ)
        try:
            try:
                provider, values = match()
                request.path_values = values
                photo = provider.upload and request.mimetype == "multipart/form-data"
                request.max_content_length = provider.max_body or (
                    MAX_BODY_BYTES if photo else self.max_json_bytes)
                request.client_address = self.client_address(environ)
                check_request(request)
                if environ.get("HTTP_TRANSFER_ENCODING"):
                    # a body of unknown length would be read (or drained) for as long as it is sent
                    raise LengthRequired("Send the body with a Content-Length")
                if request.content_length and request.content_length <= request.max_content_length:
                    # the body gets its own deadline, longer for a big photo on a slow line
                    if timer is not None:
                        timer.cancel()
                    timer = deadline(self.read_timeout + request.content_length / MIN_BODY_RATE,
                                     socket.timeout("the request body did not arrive in time"))
                request.get_data(cache=True)  # all of it now, within the read deadline
            finally:
                if timer is not None:
                    timer.cancel()
        except (socket.timeout, ClientDisconnected):  # before HTTPException: it is a BadRequest
            return json_response(408, error_body("request_timeout", "The request did not arrive in time"))
        except HTTPException as exc:
            return http_error_response(exc)
        except AppError as exc:
            return app_error_response(exc)
        return provider.handle_request(request)

    def client_address(self, environ):
        return client_address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"),
                              self.trusted_proxies)

    def context_data(self, request):
        """What follows the request into every RPC call: its correlation id, the caller's token and
        the client's Idempotency-Key (check_request vouched for the headers' shape)."""
        context = {CORRELATION_KEY: request.correlation_id}
        token = bearer_token(request)
        if token:
            context[TOKEN_CONTEXT_KEY] = token
        key = idempotency_key(request)
        if key:
            context[IDEMPOTENCY_KEY] = key
        return context


class Route(BoundSignature, FinishBeforeResult, HttpRequestHandler):
    """``@route(method, url, ...)``: an HTTP entrypoint of the API. Unless ``public=True`` it answers
    401 (or 503 while revocations are unknown) before a worker starts for a caller without a valid
    token, whatever its handler does."""

    server = ApiServer()

    def __init__(self, method, url, summary="", tags=(), body=None, query=None, response=None,
                 status=200, public=False, responses=None, content_type=None, upload=False,
                 max_body=None, **kwargs):
        self.public = public
        # Everything below only describes the route (OpenAPI); behaviour is in the handler.
        self.summary = summary
        self.tags = tuple(tags)
        self.body = body
        self.query = query
        self.response = response
        self.status = status
        self.responses = responses or {}
        self.content_type = content_type
        self.upload = upload  # also takes multipart/form-data with an 'image' file
        self.max_body = max_body  # bytes; the server's JSON limit (or 8 MB for uploads) when None
        super().__init__(method, url, expected_exceptions=(AppError,), **kwargs)

    def setup(self):
        super().setup()
        self.caller = find_dependency(self.container, Caller)
        if self.caller is None and not self.public:
            raise RuntimeError("%s %s: a route that is not public needs the service to have a Caller"
                               % (self.method, self.url))

    def authenticate(self, request):
        """The caller's identity; Unauthenticated without a valid, unrevoked token."""
        return self.caller.verifier.verify(bearer_token(request))

    def handle_request(self, request):
        started = time.perf_counter()
        # check_request vouched for the header's shape
        request.correlation_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        try:
            if not self.public:
                self.authenticate(request)
        except AppError as exc:
            response = self.response_from_exception(exc)
        else:
            response = super().handle_request(request)
        # every answer, refusals included, names the id its log lines carry
        response.headers[REQUEST_ID_HEADER] = request.correlation_id
        token = bind_correlation_id(request.correlation_id)
        access_log.info("%s %s %d", request.method, request.path, response.status_code, extra={"fields": {
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2)}})
        reset_correlation_id(token)
        return response

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        status, body, headers = self.status, result, None
        if isinstance(result, tuple):
            if len(result) == 3:
                status, headers, body = result
            else:
                status, body = result
        if status == 204:
            return Response(status=204, headers=headers)
        return json_response(status, body, headers)

    def response_from_exception(self, exc):
        if isinstance(exc, AppError):
            return app_error_response(exc)
        if isinstance(exc, ValidationError):
            return json_response(422, error_body("validation_failed", "Some fields are not valid",
                                                 flatten_messages(exc.messages)))
        if isinstance(exc, HTTPException):
            return http_error_response(exc)
        if isinstance(exc, RemoteError):
            log.error("a service failed: %s", exc)
            return json_response(500, error_body(
                "internal_error", "A service failed while handling this request; it has been logged"))
        log.error("unexpected error in the gateway: %r", exc, exc_info=exc)
        return json_response(500, error_body(
            "internal_error", "Something went wrong on our side; it has been logged"))


def route(method, url, entrypoint=None, **kwargs):
    """``@route(...)``: ``Route``'s decorator (or ``entrypoint``'s, a subclass); the handler runs after the
    routes' ``before_route(request)`` (the customer a buyer app names is vouched for there, before
    anything is passed on)."""
    def decorate(handler):
        @functools.wraps(handler)
        def checked(self, request, *args, **kw):
            before = getattr(self, "before_route", None)
            if before is not None:
                before(request)
            return handler(self, request, *args, **kw)
        return (entrypoint or Route).decorator(method, url, **kwargs)(checked)
    return decorate


# -- routes that only pass a request on ---------------------------------------------------------------
def path_parameters(url):
    """The names of ``url``'s path parameters, in order."""
    return [name for _, name in PATH_PARAMETER.findall(url)]


def plain(value):
    return str(value) if isinstance(value, uuid.UUID) else value


class forward:  # noqa: N801 - used like the decorator it stands in for
    """``list_campaigns = forward("GET", "/api/v1/campaigns", "campaign.list_campaigns", query=MerchantPage,
    response=page_of(CampaignSchema), summary=..., tags=[...])``: a route that passes the request on
    to one service method, which validates what it is sent (its contract schemas).

    The method is called with, in this order: the path parameters (UUIDs as strings), then
    ``constants``, then the JSON body as sent (when the route declares ``body``), then either the
    query string as a dict (when it declares ``query``) or, with ``merchant_id=True``, only
    ``?merchant_id`` (checked against the declared ``query`` schema, if any: the service sees
    nothing else of the query). ``roles`` are refused early, before the body is read;
    A retried ``Idempotency-Key`` is answered by the service (``plumbing.idempotency``).
    Every other keyword is ``route``'s (``body``, ``query``, ``response``, ``status``, ...).
    """

    def __init__(self, method, url, target, constants=(), merchant_id=False, roles=(), **route_options):
        self.service, _, self.rpc_method = target.partition(".")
        self.method, self.url, self.target = method, url, target
        self.constants = tuple(constants)
        self.merchant_id = merchant_id
        self.roles = tuple(roles)
        self.route_options = route_options
        self.path_names = path_parameters(url)

    def __set_name__(self, owner, name):
        spec = self

        def handler(self, request, **path_values):
            return spec.handle(self, request, path_values)
        handler.__name__, handler.__qualname__ = name, "%s.%s" % (owner.__qualname__, name)
        handler.__doc__ = "%s %s: passed on to %s." % (self.method, self.url, self.target)
        handler.forwarded = self
        setattr(owner, name, route(self.method, self.url, **self.route_options)(handler))

    @property
    def arity(self):
        """How many arguments the service method is called with."""
        body = self.route_options.get("body") is not None
        query = self.merchant_id or self.route_options.get("query") is not None
        return len(self.path_names) + len(self.constants) + int(body) + int(query)

    def arguments(self, request, path_values):
        args = [plain(path_values[name]) for name in self.path_names]
        args.extend(self.constants)
        if self.route_options.get("body") is not None:
            args.append(json_body(request))
        query = self.route_options.get("query")
        if self.merchant_id:
            if query is not None:
                args.append(load(query, request.args.to_dict(),
                                 message="Some query parameters are not valid").get("merchant_id"))
            else:
                args.append(request.args.get("merchant_id"))
        elif query is not None:
            args.append(request.args.to_dict())
        return args

    def handle(self, routes, request, path_values):
        if self.roles:
            routes.identity.require(*self.roles)
        args = self.arguments(request, path_values)
        return getattr(getattr(routes, self.service), self.rpc_method)(*args)

