"""Attachments: images and PDFs, checked by what they are (their bytes), not by their name, and kept
where they survive restarts: a filesystem volume (``SUPPORT_ATTACHMENTS_DIR``, the default) or
S3-compatible object storage (``SUPPORT_ATTACHMENTS_BACKEND=s3``). Both backends are the same small
interface, ``put(key, data)``, ``get(key)``, ``delete(key)``; the rows in ``attachments`` name the key.
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
    """The filesystem backend: files under one directory, named by an id: written to a temporary file and renamed, so a
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


class S3Store:
    """The S3 backend (AWS S3, MinIO, Ceph RGW...): one object per attachment under ``prefix``. A put
    is one PUT, so an object is either whole or absent; nothing is public (the gateway serves files)."""

    def __init__(self, client, bucket, prefix=""):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def name(self, key):
        if not key or "/" in key or key.startswith("."):
            raise ValueError("bad key")
        return self.prefix + key

    def put(self, key, data):
        self.client.put_object(Bucket=self.bucket, Key=self.name(key), Body=data,
                               ContentType="application/octet-stream")

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=self.name(key))["Body"].read()

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))  # absent is not an error in S3


BACKENDS = ("filesystem", "s3")


def store_from(setting):
    """The backend ``setting(name)`` (config, else environment) asks for. S3 credentials: the
    ``SUPPORT_ATTACHMENTS_S3_ACCESS_KEY_ID`` / ``..._SECRET_ACCESS_KEY`` pair if given, else boto3's
    own chain (``AWS_ACCESS_KEY_ID``..., a web identity token on Kubernetes)."""
    backend = (setting("SUPPORT_ATTACHMENTS_BACKEND") or "filesystem").lower()
    if backend not in BACKENDS:
        raise ValueError("SUPPORT_ATTACHMENTS_BACKEND is %r: use one of %s" % (backend, ", ".join(BACKENDS)))
    if backend == "filesystem":
        return FileStore(setting("SUPPORT_ATTACHMENTS_DIR") or str(cfg.REPO_ROOT / ".local" / "support-attachments"))
    bucket = setting("SUPPORT_ATTACHMENTS_S3_BUCKET")
    if not bucket:
        raise ValueError("SUPPORT_ATTACHMENTS_BACKEND=s3 needs SUPPORT_ATTACHMENTS_S3_BUCKET")
    import boto3  # only a service that stores in S3 pays for importing it
    from botocore.config import Config
    client = boto3.session.Session().client(
        "s3", endpoint_url=setting("SUPPORT_ATTACHMENTS_S3_ENDPOINT") or None,
        region_name=setting("SUPPORT_ATTACHMENTS_S3_REGION") or None,
        aws_access_key_id=setting("SUPPORT_ATTACHMENTS_S3_ACCESS_KEY_ID") or None,
        aws_secret_access_key=setting("SUPPORT_ATTACHMENTS_S3_SECRET_ACCESS_KEY") or None,
        # path-style: MinIO and most self-hosted stores have no per-bucket DNS names
        # checksums only where S3 requires them: not every S3-compatible store knows the newer ones
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                      connect_timeout=5, read_timeout=30, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
    return S3Store(client, bucket, setting("SUPPORT_ATTACHMENTS_S3_PREFIX") or "")


class AttachmentStore(DependencyProvider):
    """The service's attachment store, the backend the config (else the environment) names:
    ``SUPPORT_ATTACHMENTS_BACKEND`` ``filesystem`` (default; ``SUPPORT_ATTACHMENTS_DIR``, else a folder
    under the repository's ignored ``.local/``: mount a volume there in production) or ``s3``
    (``SUPPORT_ATTACHMENTS_S3_BUCKET``, ``..._ENDPOINT``, ``..._REGION``, ``..._PREFIX``, credentials)."""

    def setup(self):
        config = self.container.config
        self.store = store_from(lambda name: config.get(name) or os.environ.get(name))

    def get_dependency(self, worker_ctx):
        return self.store
