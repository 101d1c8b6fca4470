"""The merchant portal: its static files at ``/portal/``, built from ``gateway/portal/src``.

The portal is a client of the public API like any other (nothing here reads a
service): these routes only hand out the files ``devtools/portal.py`` built into
``PORTAL_DIR`` (``gateway/portal/dist``). Files under ``assets/`` carry a hash of
their content in their name, so browsers keep them for a year; ``index.html``
is checked again every time (an ETag makes that a 304), and every path of the
app that is not a file (``/portal/redeem``) is ``index.html``, whose script
routes in the browser.

Every portal answer carries a Content-Security-Policy that lets the page load
only its own scripts and styles (no inline script or style, no eval), talk only
to this origin, show images of its own, ``blob:`` and ``data:`` (QR codes fetched
with the token), and be framed by nobody; the camera is allowed to this origin only.
"""
import gzip
import hashlib
import os
import threading
from pathlib import Path

from nameko.extensions import DependencyProvider
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from gateway.http import route
from gateway.routes.base import Routes
from plumbing.errors import NotFound, ServiceUnavailable

TAG = "Portal"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "portal" / "dist"
PORTAL_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:", "connect-src 'self'", "font-src 'self'", "worker-src 'self'",
    "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"))
PORTAL_HEADERS = {
    "Content-Security-Policy": PORTAL_POLICY,
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
    ".json": "application/json", ".webmanifest": "application/manifest+json", ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm", ".woff2": "font/woff2",
}
COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json", ".webmanifest", ".txt")
IMMUTABLE = "public, max-age=31536000, immutable"  # assets/ names carry their content's hash
REVALIDATE = "no-cache"


class PortalFiles(DependencyProvider):
    """The built portal, read once per file version and kept (with its gzip) in memory."""

    def setup(self):
        self.root = Path(self.container.config.get("PORTAL_DIR") or os.environ.get("PORTAL_DIR") or DEFAULT_DIR)
        self._cache = {}
        self._lock = threading.Lock()

    def get_dependency(self, worker_ctx):
        return self

    def built(self):
        return (self.root / "index.html").is_file()

    def find(self, path):
        """(absolute path, content type) of a portal file, or None."""
        full = safe_join(str(self.root), path) if path else None
        if full is None or not os.path.isfile(full):
            return None
        suffix = os.path.splitext(full)[1].lower()
        return full, CONTENT_TYPES.get(suffix, "application/octet-stream")

    def content(self, full):
        """(bytes, gzip bytes or None, etag), cached until the file changes (a rebuild)."""
        stat = os.stat(full)
        key = (full, stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(key)
        if cached is None:
            with open(full, "rb") as fh:
                data = fh.read()
            packed = gzip.compress(data, 6) if full.endswith(COMPRESSIBLE) and len(data) > 1024 else None
            cached = (data, packed, hashlib.sha256(data).hexdigest()[:32])
            with self._lock:
                self._cache = {k: v for k, v in self._cache.items() if k[0] != full}
                self._cache[key] = cached
        return cached


def portal_response(request, data, packed, etag, content_type, cache_control):
    gzipped = packed is not None and request.accept_encodings["gzip"] > 0
    response = Response(packed if gzipped else data, headers=dict(PORTAL_HEADERS))
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = "Accept-Encoding"
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag + ("-gz" if gzipped else ""))
    return response.make_conditional(request)


class PortalRoutes(Routes):
    portal_files = PortalFiles()

    @route("GET", "/portal", summary="The merchant portal (redirects to /portal/)", tags=[TAG], public=True,
           content_type="text/html")
    def portal_root(self, request):
        return Response(status=308, headers={"Location": "/portal/", **PORTAL_HEADERS})

    @route("GET", "/portal/", summary="The merchant portal", tags=[TAG], public=True, content_type="text/html")
    def portal_index(self, request):
        return self._serve(request, "")

    @route("GET", "/portal/<path:path>",
           summary="The portal's files (assets/ are content-hashed and cached for a year); any other path "
                   "of the app answers the portal's page", tags=[TAG], public=True, content_type="text/html")
    def portal_file(self, request, path):
        return self._serve(request, path)

    def _serve(self, request, path):
        files = self.portal_files
        if not files.built():
            raise ServiceUnavailable("The portal has not been built: `make run` builds it (npm is needed), "
                                     "or run `python -m devtools.portal`", code="portal_not_built")
        found = files.find(path)
        if found is not None:
            full, content_type = found
            cache = IMMUTABLE if path.startswith("assets/") else REVALIDATE
            return portal_response(request, *files.content(full), content_type, cache)
        last = path.rsplit("/", 1)[-1]
        if "." in last or path.startswith("assets/"):
            raise NotFound("No portal file %s" % path[:200], code="not_found")
        # a path of the app itself (/portal/redeem, /portal/support/SUP-104): the page routes it
        full, content_type = files.find("index.html")
        return portal_response(request, *files.content(full), content_type, REVALIDATE)
