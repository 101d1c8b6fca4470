"""The gateway's HTTP entrypoint: JSON in, JSON out, every error a clear 4xx/5xx body.

``@route("POST", "/api/v1/vouchers", ...)`` is nameko's ``@http`` plus what
the API promises its callers:

* answers are JSON; errors are ``{"error": {"code", "message", "fields"}}``
  with the right status, never an HTML page or a stack trace;
* a downstream service that is down or too slow is a 503 naming it;
* the bearer token and a correlation id (``X-Request-ID``, kept when the
  caller sends one) go into the worker's context data, so they follow the
  request through every RPC call and event;
* each route carries the schemas and words the OpenAPI document is built from.
"""
import json
import logging
import time
import uuid

from marshmallow import ValidationError
from nameko.exceptions import RemoteError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from plumbing.auth import TOKEN_CONTEXT_KEY
from plumbing.entrypoints import FinishBeforeResult
from plumbing.errors import AppError
from plumbing.logs import CORRELATION_KEY, bind_correlation_id, reset_correlation_id
from plumbing.validation import flatten_messages

log = logging.getLogger(__name__)
access_log = logging.getLogger("vowrewards.access")

MAX_BODY_BYTES = 8 * 1024 * 1024  # a 5 MB photo of a QR code, as multipart, fits
REQUEST_ID_HEADER = "X-Request-ID"


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def json_response(status, body, headers=None):
    return Response(json.dumps(body, default=str), status=status, headers=headers,
                    mimetype="application/json")


class ApiRequest(Request):
    max_content_length = MAX_BODY_BYTES
    max_form_memory_size = MAX_BODY_BYTES


class ApiApp(WsgiApp):
    """nameko's WSGI app, answering unknown paths and methods in JSON too."""

    def __call__(self, environ, start_response):
        request = ApiRequest(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = http_error_response(exc)
        return response(environ, start_response)


def http_error_response(exc):
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
             415: "unsupported_media_type", 400: "bad_request"}
    response = json_response(exc.code or 400, error_body(codes.get(exc.code, "http_error"),
                                                         exc.description or exc.name))
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


class ApiServer(WebServer):
    def get_wsgi_app(self):
        return ApiApp(self)

    def context_data_from_headers(self, request):
        request.correlation_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        context = {CORRELATION_KEY: request.correlation_id}
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            context[TOKEN_CONTEXT_KEY] = token.strip()
        return context


class Route(FinishBeforeResult, HttpRequestHandler):
    server = ApiServer()

    def __init__(self, method, url, summary="", tags=(), body=None, query=None, response=None,
                 status=200, public=False, responses=None, content_type=None, upload=False, **kwargs):
        # Everything below only describes the route (OpenAPI); behaviour is in the handler.
        self.summary = summary
        self.tags = tuple(tags)
        self.body = body
        self.query = query
        self.response = response
        self.status = status
        self.public = public
        self.responses = responses or {}
        self.content_type = content_type
        self.upload = upload  # also takes multipart/form-data with an 'image' file
        super().__init__(method, url, expected_exceptions=(AppError,), **kwargs)

    def handle_request(self, request):
        started = time.perf_counter()
        response = super().handle_request(request)
        # every answer, refusals included, names the id its log lines carry
        correlation_id = getattr(request, "correlation_id", None)
        if correlation_id:
            response.headers[REQUEST_ID_HEADER] = correlation_id
        token = bind_correlation_id(correlation_id)
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
            return json_response(exc.status, {"error": exc.as_dict()})
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


route = Route.decorator
