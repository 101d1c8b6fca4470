"""The till's ``POST /api/v1/redemptions`` on uvicorn and starlette, calling the running
``redemption.redeem`` (nameko) over aio-pika: for ``make bench`` to weigh what moving the gateway
off werkzeug and eventlet (step 3 of the exit plan in ``plumbing/framework.py``) would give the
till, on the real redemption path rather than the echo.

    python -m devtools.till_asgi --amqp amqp://guest:guest@127.0.0.1:5672/ --port 8097

A measuring instrument, not a second gateway: it serves that one route, for JSON bodies, and does
what the gateway does per request on it (the request id and header checks, the bearer token
verified once per token and process, tills only, a bounded JSON body checked for structure, the
worker context nameko reads: token, correlation id, Idempotency-Key; the security headers). It
does not consult the revocation feed, write an access log line or time the request; those the
port would keep, so its figures are a floor for the port's cost, not a promise.
"""
import argparse
import contextlib
import json
import re
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from devtools.echo_asgi import RpcClient
from plumbing import config as cfg
from plumbing import errors
from plumbing.auth import TILLS, TokenVerifier
from plumbing.validation import check_structure

PATH = "/api/v1/redemptions"
MAX_JSON_BYTES = 64 * 1024
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")  # gateway.http's
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
                    "Cache-Control": "no-store"}


def answer(status, body, request_id):
    return Response(json.dumps(body, default=str), status_code=status, media_type="application/json",
                    headers=dict(SECURITY_HEADERS, **{"X-Request-ID": request_id}))


def refusal(error, request_id):
    return answer(error.status, {"error": error.as_dict()}, request_id)


def remote_refusal(error, request_id):
    """A service's error reply as the gateway words it: nameko sends the AppError's class name and
    its arguments (message, code, fields); anything else is a 500."""
    cls = getattr(errors, str(error.get("exc_type")), None)
    if isinstance(cls, type) and issubclass(cls, errors.AppError):
        return refusal(cls(*(error.get("exc_args") or [error.get("value")])), request_id)
    return answer(500, {"error": {"code": "internal_error", "message": "A service failed", "fields": {}}},
                  request_id)


def app(amqp_uri, public_key):
    client = RpcClient(amqp_uri, name="till-asgi")
    verifier = TokenVerifier(public_key)

    async def redeem(request):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        try:
            if not REQUEST_ID.fullmatch(request_id):
                raise errors.BadRequest("X-Request-ID is not valid", code="invalid_request_id")
            if any("\x00" in value or "\r" in value or "\n" in value for value in request.headers.values()):
                raise errors.BadRequest("A header holds a control character", code="invalid_header")
            authorization = request.headers.get("authorization", "")
            token = authorization[7:] if authorization.startswith("Bearer ") else None
            verifier.verify(token).require(*TILLS)
            body = await request.body()
            if len(body) > MAX_JSON_BYTES:
                raise errors.PayloadTooLarge("The body is too large")
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                raise errors.BadRequest("The body is not JSON", code="invalid_json")
            check_structure(data)
        except errors.AppError as error:
            return refusal(error, request_id)
        context = {"nameko.auth_token": token, "nameko.correlation_id": request_id}
        if request.headers.get("idempotency-key"):
            context["nameko.idempotency_key"] = request.headers["idempotency-key"]
        reply = await client.call("redemption.redeem", [data], headers=context)
        if reply.get("error"):
            return remote_refusal(reply["error"], request_id)
        return answer(201, reply["result"], request_id)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await client.start()
        yield

    return Starlette(routes=[Route(PATH, redeem, methods=["POST"])], lifespan=lifespan)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m devtools.till_asgi")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args(argv)
    public_key = cfg.read_key("JWT_PUBLIC_KEY")
    if not public_key:
        raise SystemExit("devtools.till_asgi: no JWT_PUBLIC_KEY (set it, or run where make run keeps its keys)")
    uvicorn.run(app(args.amqp, public_key), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
