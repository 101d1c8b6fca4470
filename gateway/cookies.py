"""The portal's refresh-token cookie: a session that survives a reload, out of scripts' reach.

The portal keeps its access token in memory only. To come back after a reload it
asks for cookie mode at sign-in (``"session_cookie": true``): the refresh token
then travels only in an HttpOnly, SameSite=Strict cookie scoped to
``/api/v1/auth/`` (Secure when the request came over HTTPS, directly or through
one of our trusted proxies) and never appears in the JSON a script reads.

``/auth/refresh`` and ``/auth/logout`` take the cookie when the body names no
refresh token, and only with the ``X-VowRewards-Portal`` header: a page of another
site cannot send a custom header without a CORS preflight the gateway never
grants, so a forged form post carries the cookie (were SameSite ever bypassed)
but not the header, and is refused.
"""
import ipaddress

from marshmallow import Schema, fields, validate
from nameko.extensions import DependencyProvider

from gateway.http import parse_networks
from gateway.schemas import LoginSchema, TokenSchema
from plumbing.errors import Forbidden

COOKIE_NAME = "vow_portal_refresh"
COOKIE_PATH = "/api/v1/auth/"
CSRF_HEADER = "X-VowRewards-Portal"
REFRESH_COOKIE_DAYS = 14  # as long as the refresh token itself lives (gateway.auth.REFRESH_TOKEN_DAYS)


class CookieLoginSchema(LoginSchema):
    session_cookie = fields.Boolean(load_default=False, metadata={
        "description": "The portal: keep the refresh token in an HttpOnly cookie instead of the answer"})


class CookieRefreshSchema(Schema):
    refresh_token = fields.String(load_default=None, validate=validate.Length(min=1, max=200), load_only=True,
                                  metadata={"description": "Or none, to use the portal's cookie (with the "
                                                          "X-VowRewards-Portal header)"})


class CookieTokenSchema(TokenSchema):
    """In cookie mode ``refresh_token`` is absent: it is in the cookie."""


class SessionCookie(DependencyProvider):
    """Reads and writes the portal's refresh cookie for a route."""

    def setup(self):
        config = self.container.config
        self.trusted_proxies = parse_networks(config.get("GATEWAY_TRUSTED_PROXIES") or "")
        self.force_secure = str(config.get("GATEWAY_COOKIE_SECURE") or "").lower() in ("1", "true", "yes")

    def get_dependency(self, worker_ctx):
        return self

    def is_https(self, request):
        if request.scheme == "https" or self.force_secure:
            return True
        try:
            peer = ipaddress.ip_address(request.environ.get("REMOTE_ADDR") or "")
        except ValueError:
            peer = None
        if peer is not None and peer.version == 6 and peer.ipv4_mapped:
            peer = peer.ipv4_mapped
        proto = (request.headers.get("X-Forwarded-Proto") or "").split(",")[-1].strip().lower()
        # only our own proxy's word that the client spoke HTTPS counts
        return proto == "https" and peer is not None and any(peer in net for net in self.trusted_proxies)

    def token_from(self, request, body_token):
        """The refresh token to use, and whether it came from the cookie (then the header is required)."""
        if body_token:
            return body_token, False
        cookie = request.cookies.get(COOKIE_NAME)
        if cookie is None:
            return None, False
        if request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden("Send the %s: 1 header to use the session cookie" % CSRF_HEADER,
                            code="csrf_header_missing", fields={CSRF_HEADER: ["Required with the cookie."]})
        return cookie, True

    def set(self, response, request, refresh_token):
        response.set_cookie(COOKIE_NAME, refresh_token, max_age=REFRESH_COOKIE_DAYS * 86400, path=COOKIE_PATH,
                            secure=self.is_https(request), httponly=True, samesite="Strict")
        return response

    def clear(self, response, request):
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, secure=self.is_https(request), httponly=True,
                               samesite="Strict")
        return response
