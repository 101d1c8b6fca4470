"""Attachments: images and PDFs, checked by what they are (their bytes), not by their name, and kept
on a filesystem volume (``SUPPORT_ATTACHMENTS_DIR``) so they survive restarts. S3-compatible storage
is not built yet: the store is one small class, the place to add it.
"""
import hashlib
import io
import os
import tempfile

from nameko.extensions import DependencyProvider
from PIL import Image, UnidentifiedImageError

from plumbing import config as cfg
from plumbing.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a "small" PNG can claim to be a billion pixels: refuse before decoding it
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def sniff(data):
    """The content type ``data`` really is (image/jpeg, image/png, image/webp, image/gif or
    application/pdf), or UnsupportedMediaType whatever its name says."""
    if not data:
        raise ValidationFailed("The file is empty", code="attachment_empty", fields={"file": ["Empty."]})
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge("Attachments are at most %d MB" % (MAX_BYTES // (1024 * 1024)),
                              code="attachment_too_large")
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            raise UnsupportedMediaType("This PDF is cut short", code="attachment_type_refused")
        return "application/pdf"
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if image.width * image.height > MAX_PIXELS:
                raise UnsupportedMediaType("The image is too large", code="attachment_type_refused")
            image.verify()  # the whole file parses, not just its first bytes
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnsupportedMediaType("Only images (JPEG, PNG, WebP, GIF) and PDF documents can be attached",
                                   code="attachment_type_refused")
    if kind not in IMAGE_TYPES:
        raise UnsupportedMediaType("Only images (JPEG, PNG, WebP, GIF) and PDF documents can be attached",
                                   code="attachment_type_refused")
    return IMAGE_TYPES[kind]


def safe_name(filename, content_type):
    base = "".join(c for c in os.path.basename(filename or "") if c.isalnum() or c in "._- ")[:100].strip()
    return base or "attachment." + content_type.split("/")[1]


class FileStore:
    """Files under one directory, named by an id: written to a temporary file and renamed, so a
    crash never leaves half a file under a real name."""

    def __init__(self, directory):
        self.directory = directory

    def path(self, key):
        if not key or "/" in key or key.startswith("."):
            raise ValueError("bad key")
        return os.path.join(self.directory, key[:2], key)

    def put(self, key, data):
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def get(self, key):
        with open(self.path(key), "rb") as stored:
            return stored.read()

    def delete(self, key):
        try:
            os.remove(self.path(key))
        except FileNotFoundError:
            pass


def digest(data):
    return hashlib.sha256(data).hexdigest()


class AttachmentStore(DependencyProvider):
    """The service's file store: ``SUPPORT_ATTACHMENTS_DIR`` (config, else the environment), else a
    folder under the repository's ignored ``.local/`` (mount a volume there in production)."""

    def setup(self):
        directory = (self.container.config.get("SUPPORT_ATTACHMENTS_DIR") or os.environ.get("SUPPORT_ATTACHMENTS_DIR")
                     or str(cfg.REPO_ROOT / ".local" / "support-attachments"))
        self.store = FileStore(directory)

    def get_dependency(self, worker_ctx):
        return self.store
