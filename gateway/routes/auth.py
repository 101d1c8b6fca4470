"""Signing in and out, and who am I."""
from gateway import storage
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import LoginSchema, RefreshSchema, TokenSchema, UserSchema
from plumbing.errors import NotFound

TAG = "Authentication"


class AuthRoutes(Routes):
    @route("POST", "/api/v1/auth/token", summary="Sign in with username and password",
           tags=[TAG], body=LoginSchema, response=TokenSchema, public=True)
    def sign_in(self, request):
        data = self.body(request, LoginSchema)
        return self.sessions.login(self.db, data["username"], data["password"])

    @route("POST", "/api/v1/auth/refresh", summary="Trade a refresh token for a new session",
           tags=[TAG], body=RefreshSchema, response=TokenSchema, public=True)
    def refresh_session(self, request):
        data = self.body(request, RefreshSchema)
        return self.sessions.refresh(self.db, data["refresh_token"])

    @route("POST", "/api/v1/auth/logout", summary="End a session (revoke its refresh token)",
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
