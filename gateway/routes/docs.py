"""The OpenAPI document of this API."""
from gateway.http import route
from gateway.routes.base import Routes

_document = {}


class DocsRoutes(Routes):
    @route("GET", "/api/v1/openapi.json", summary="This API's OpenAPI 3 document", tags=["Documentation"],
           public=True)
    def openapi_document(self, request):
        if "spec" not in _document:
            from gateway.openapi import build_spec
            _document["spec"] = build_spec(type(self))
        return _document["spec"]
