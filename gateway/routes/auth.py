"""Signing in and out, and who am I; and, over RPC, what was revoked lately."""
from nameko.timer import timer

from gateway import storage, throttle
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import LoginSchema, RefreshSchema, TokenSchema, UserSchema
from plumbing.entrypoints import rpc
from plumbing.errors import NotFound, Unauthenticated

TAG = "Authentication"


class AuthRoutes(Routes):
    @route("POST", "/api/v1/auth/token", summary="Sign in with username and password",
           tags=[TAG], body=LoginSchema, response=TokenSchema, public=True)
    def sign_in(self, request):
        data = self.body(request, LoginSchema)
        return self.sessions.login(self.db, data["username"], data["password"],
                                   self.throttle.guard(request.client_address, data["username"]))

    @route("POST", "/api/v1/auth/refresh",
           summary="Trade a refresh token for new tokens of the same session (a token used twice ends "
                   "every session of its user)",
           tags=[TAG], body=RefreshSchema, response=TokenSchema, public=True)
    def refresh_session(self, request):
        data = self.body(request, RefreshSchema)
        guard = self.throttle.guard(request.client_address)  # an address that keeps failing slows down
        guard.check(self.db)
        try:
            return self.sessions.refresh(self.db, data["refresh_token"])
        except Unauthenticated:
            self.db.despite_failure(guard.failed)  # counted even though this request fails
            raise

    @route("POST", "/api/v1/auth/logout",
           summary="End a session: its refresh tokens stop working and its access tokens are refused",
           tags=[TAG], body=RefreshSchema, status=204, public=True)
    def sign_out(self, request):
        data = self.body(request, RefreshSchema)
        self.sessions.logout(self.db, data["refresh_token"])
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
