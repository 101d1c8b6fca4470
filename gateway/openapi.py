"""The OpenAPI document, generated from the routes and their marshmallow schemas."""
import inspect

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.http import PATH_PARAMETER, Route
from gateway.schemas import ErrorSchema

CONVERTERS = {"uuid": {"type": "string", "format": "uuid"}, "int": {"type": "integer"},
              "string": {"type": "string"}, None: {"type": "string"}}
ERROR_STATUSES = {
    "400": "The request is malformed (bad JSON, bad cursor)",
    "401": "No valid bearer token",
    "403": "Your role or merchant may not do this",
    "404": "Not found (or not yours)",
    "409": "Conflicts with the current state (e.g. already redeemed)",
    "422": "Some fields are not valid: `error.fields` names each",
    "503": "A service behind the gateway is down or too slow",
}
DESCRIPTION = """The VowRewards API for the merchant portal, POS terminals and buyer apps.

Sign in with `POST /api/v1/auth/token` and send the access token as `Authorization: Bearer <token>`.
Money is an integer count of minor units with an ISO 4217 currency. Times are ISO 8601 in UTC.
Every list answers `{"items": [...], "next": cursor}`; pass `cursor=<next>` for the next page.
Every error answers `{"error": {"code", "message", "fields"}}`. Retried POSTs with the same
`Idempotency-Key` header return the first answer.
"""


def routes_of(service_cls):
    found = []
    for _, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                found.append((member.__name__, entrypoint))
    return sorted(found, key=lambda item: (item[1].url, item[1].method))


def openapi_path(url):
    parameters = []
    for converter, name in PATH_PARAMETER.findall(url):
        parameters.append({"name": name, "in": "path", "required": True,
                           "schema": CONVERTERS.get(converter or None, {"type": "string"})})
    return PATH_PARAMETER.sub(lambda m: "{%s}" % m.group(2), url), parameters


def operation(name, route):
    path_parameters = openapi_path(route.url)[1]
    op = {"operationId": name, "summary": route.summary, "tags": list(route.tags),
          "parameters": path_parameters, "responses": {}}
    if route.query is not None:
        op["parameters"] = path_parameters + [{"in": "query", "schema": route.query}]
    if route.body is not None:
        content = {"application/json": {"schema": route.body}}
        if route.upload:
            content["multipart/form-data"] = {"schema": {
                "type": "object", "required": ["image"],
                "description": "A photo of the QR code or barcode, with the other fields as form fields",
                "properties": {"image": {"type": "string", "format": "binary",
                                         "description": "PNG, JPEG, WebP or GIF, at most 5 MB"}},
                "additionalProperties": {"type": "string"}}}
        op["requestBody"] = {"required": True, "content": content}
    if route.status == 204:
        op["responses"]["204"] = {"description": "Done"}
    else:
        success = {"description": "Success"}
        if route.response is not None:
            success["content"] = {"application/json": {"schema": route.response}}
        elif route.content_type:
            success["content"] = {route.content_type: {"schema": {"type": "string", "format": "binary"}}}
        op["responses"][str(route.status)] = success
    for status, text in ERROR_STATUSES.items():
        if route.public and status in ("401", "403"):
            continue
        op["responses"][status] = {"description": text,
                                   "content": {"application/json": {"schema": "Error"}}}
    op["security"] = [] if route.public else [{"bearer": []}]
    return op


def build_spec(service_cls):
    spec = APISpec(title="VowRewards API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()], info={"description": DESCRIPTION})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=ErrorSchema)
    paths = {}
    for name, route in routes_of(service_cls):
        path, _ = openapi_path(route.url)
        paths.setdefault(path, {})[route.method.lower()] = operation(name, route)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
