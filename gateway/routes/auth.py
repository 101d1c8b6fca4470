"""Signing in and out, and who am I; and, over RPC, what was revoked lately."""
from marshmallow import Schema, fields, validate
from nameko.timer import timer
from werkzeug.wrappers import Response

from gateway import clients, storage, throttle
from gateway.cookies import (CSRF_HEADER, CookieLoginSchema, CookieRefreshSchema, CookieTokenSchema,
                             SessionCookie)
from gateway.http import app_error_response, json_body, json_response, route
from gateway.routes.base import Routes
from gateway.schemas import UserSchema
from plumbing.entrypoints import rpc
from plumbing.errors import NotFound, Unauthenticated, ValidationFailed
from plumbing.fields import Id
from plumbing.validation import load

TAG = "Authentication"
CLIENT_CREDENTIALS = "client_credentials"
CLIENT_NOTE = (" An API client (POS, buyer app, logistics partner) sends `{\"grant_type\": \"client_credentials\", "
               "\"client_id\", \"client_secret\"}` (JSON or form-encoded) and gets `{\"access_token\", "
               "\"token_type\", \"expires_in\", \"scope\"}`: a short-lived token with the client's kind as "
               "its role, and no refresh token (ask again).")


class ClientCredentialsSchema(Schema):
    grant_type = fields.String(required=True, validate=validate.Equal(CLIENT_CREDENTIALS))
    client_id = Id(required=True)
    client_secret = fields.String(required=True, validate=validate.Length(min=1, max=200), load_only=True)
COOKIE_NOTE = (" The portal asks for cookie mode (`session_cookie: true`): the refresh token then lives only in "
               "an HttpOnly SameSite=Strict cookie, which /auth/refresh and /auth/logout take when the body names "
               "no refresh token and the request carries the `%s: 1` header." % CSRF_HEADER)


class AuthRoutes(Routes):
    session_cookie = SessionCookie()

    @route("POST", "/api/v1/auth/token", summary="Sign in with username and password." + COOKIE_NOTE + CLIENT_NOTE,
           tags=[TAG], body=CookieLoginSchema, response=CookieTokenSchema, public=True,
           responses={"401": "Wrong username or password; for a client: `invalid_client` (unknown, wrong "
                             "secret, or revoked)"})
    def sign_in(self, request):
        if (request.mimetype or "").lower() == "application/x-www-form-urlencoded":
            data = request.form.to_dict()  # OAuth2 clients send the token request as a form
        else:
            data = json_body(request)
        if data.get("grant_type") == CLIENT_CREDENTIALS:
            data = load(ClientCredentialsSchema, data)
            return clients.issue_token(self.db, self.sessions.signer, str(data["client_id"]), data["client_secret"])
        if data.get("grant_type") == "password":
            del data["grant_type"]  # OAuth2's name for signing in with a password
        data = load(CookieLoginSchema, data)
        tokens = self.sessions.login(self.db, data["username"], data["password"],
                                     self.throttle.guard(request.client_address, data["username"]))
        return self._answer(request, tokens, data["session_cookie"])

    def _answer(self, request, tokens, cookie_mode):
        if not cookie_mode:
            return tokens
        refresh_token = tokens.pop("refresh_token")  # never where a script could read it
        return self.session_cookie.set(json_response(200, tokens), request, refresh_token)

    def _refresh_token(self, request):
        data = self.body(request, CookieRefreshSchema)
        token, from_cookie = self.session_cookie.token_from(request, data["refresh_token"])
        if token is None:
            raise ValidationFailed("Send the refresh token (or sign in again)", code="refresh_token_missing",
                                   fields={"refresh_token": ["Missing data for required field."]})
        return token, from_cookie

    @route("POST", "/api/v1/auth/refresh",
           summary="Trade a refresh token for new tokens of the same session (a token used twice ends "
                   "every session of its user)." + COOKIE_NOTE,
           tags=[TAG], body=CookieRefreshSchema, response=CookieTokenSchema, public=True)
    def refresh_session(self, request):
        token, from_cookie = self._refresh_token(request)
        guard = self.throttle.guard(request.client_address)  # an address that keeps failing slows down
        guard.check(self.db)
        try:
            tokens = self.sessions.refresh(self.db, token)
        except Unauthenticated as error:
            self.db.despite_failure(guard.failed)  # counted even though this request fails
            if not from_cookie:
                raise
            # a dead cookie is dropped, so the portal shows its sign-in instead of trying it again
            return self.session_cookie.clear(app_error_response(error), request)
        return self._answer(request, tokens, from_cookie)

    @route("POST", "/api/v1/auth/logout",
           summary="End a session: its refresh tokens stop working and its access tokens are refused."
                   + COOKIE_NOTE, tags=[TAG], body=CookieRefreshSchema, status=204, public=True)
    def sign_out(self, request):
        token, from_cookie = self._refresh_token(request)
        self.sessions.logout(self.db, token)
        if from_cookie:
            return self.session_cookie.clear(Response(status=204), request)
        return 204, ""

    @route("GET", "/api/v1/me", summary="The signed-in user", tags=[TAG], response=UserSchema)
    def who_am_i(self, request):
        identity = self.identity
        user = storage.user_by_id(self.db, identity.user_id)
        if user is None:
            raise NotFound("Your user no longer exists", code="user_not_found")
        return UserSchema().dump(user)

    @rpc
    def recent_revocations(self):
        """Sessions revoked within the last token lifetime: what a process starting late asks
        for (``plumbing.revocation``). Ids and times only, nothing that signs anyone in."""
        return self.sessions.recent_revocations(self.db)

    @timer(interval=600)
    def forget_old_sign_in_failures(self):
        storage.forget_sign_in_failures(self.db, throttle.FORGET_AFTER.total_seconds())
