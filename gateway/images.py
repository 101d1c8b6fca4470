"""QR codes and barcodes as images, and reading them back from uploaded photos: the gateway's
own work (the redemption service signs and verifies QR payloads, it never draws or reads pixels).

Rendering: QR as PNG or SVG (qrcode), the voucher code as a Code 128 barcode
(python-barcode). Reading: ``decode_image`` takes an untrusted upload, refuses
anything too big or not an image before decoding pixels, and returns every
code zxing-cpp finds in it.
"""
import io

import barcode
import qrcode
import qrcode.image.svg
import zxingcpp
from barcode.writer import ImageWriter, SVGWriter
from PIL import Image

from plumbing.errors import PayloadTooLarge, ValidationFailed
from services.redemption.contract.codes import format_code, normalize_code

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 25_000_000
# Only the formats phones and browsers send; every other Pillow decoder stays unreachable.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")

# 254 dpi is 10 px/mm, so 0.3 mm modules are exactly 3 px: no uneven bars.
_BARCODE_DPI = 254
_BARCODE_OPTIONS = {"module_width": 0.3, "module_height": 15.0, "quiet_zone": 6.5}

# zxing-cpp format names that read better as ours; the rest are lower-cased.
_FORMAT_NAMES = {
    "QRCode": "qr",
    "QRCodeModel1": "qr",
    "QRCodeModel2": "qr",
    "MicroQRCode": "micro_qr",
    "RMQRCode": "rmqr",
}


def qr_png(text, box_size=8, border=4):
    """PNG bytes of a QR code holding ``text``."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                       box_size=box_size, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out, format="PNG")
    return out.getvalue()


def qr_svg(text):
    """SVG bytes of a QR code holding ``text`` (one path, scales to any size)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                       image_factory=qrcode.image.svg.SvgPathImage)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image().to_string()


def barcode_svg(code):
    """SVG bytes of the voucher code as Code 128, with the grouped code printed under it."""
    out = io.BytesIO()
    _code128(code, SVGWriter()).write(out, _BARCODE_OPTIONS, text=format_code(code))
    return out.getvalue()


def barcode_png(code):
    """PNG bytes of the voucher code as Code 128, with the grouped code printed under it."""
    symbol = _code128(code, ImageWriter(format="PNG", mode="L", dpi=_BARCODE_DPI))
    out = io.BytesIO()
    try:
        # python-barcode ships its own DejaVu font, so this needs no system fonts.
        symbol.write(out, _BARCODE_OPTIONS, text=format_code(code))
    except (OSError, ImportError):
        # A Pillow built without FreeType cannot draw text; the bars still scan.
        out = io.BytesIO()
        symbol.write(out, {**_BARCODE_OPTIONS, "write_text": False})
    return out.getvalue()


def decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS):
    """Every QR code and barcode in an uploaded image: ``[{"text": ..., "format": "qr"}]``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        _not_an_image()
    if len(data) > max_bytes:
        message = f"The image is larger than {_size(max_bytes)}: upload a smaller photo"
        raise PayloadTooLarge(message, code="image_too_large", fields={"image": [message]})
    if not data:
        _not_an_image()

    image = _open(bytes(data), max_pixels)
    found, seen = [], set()
    for result in zxingcpp.read_barcodes(_grey(image)):
        item = (result.text, _FORMAT_NAMES.get(result.format.name, result.format.name.lower()))
        if item not in seen:
            seen.add(item)
            found.append({"text": item[0], "format": item[1]})
    if not found:
        message = "No QR code or barcode could be read in this image"
        raise ValidationFailed(message, code="image_no_code_found", fields={"image": [message]})
    return found


def _code128(code, writer):
    # The bars carry the bare code; the dashes are only for human eyes.
    return barcode.get("code128", normalize_code(code), writer=writer)


def _open(data, max_pixels):
    """A fully decoded Pillow image, after checking its size from the header alone."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        _too_many_pixels()  # Pillow's own limit, hit while reading the header
    except (OSError, SyntaxError, ValueError, EOFError):
        _not_an_image()
    width, height = image.size
    # Our limit is lower than Pillow's process-wide MAX_IMAGE_PIXELS, so we
    # refuse bombs here without changing that global.
    if width * height > max_pixels:
        _too_many_pixels()
    try:
        image.load()  # decodes every byte: catches truncated and corrupt files
    except Image.DecompressionBombError:
        _too_many_pixels()
    except (OSError, SyntaxError, ValueError, EOFError):
        _not_an_image()
    return image


def _grey(image):
    """Greyscale for the decoder, with transparency laid on white.

    A transparent QR's background is often "transparent black": dropping the
    alpha channel would make the whole image black.
    """
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        background = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("L")


def _size(n):
    return f"{n / 1024 / 1024:.3g} MB" if n >= 1024 * 1024 else f"{n / 1024:.3g} KB"


def _not_an_image():
    message = "This file is not an image we can read: upload a PNG, JPEG, WebP or GIF photo"
    raise ValidationFailed(message, code="image_not_an_image", fields={"image": [message]})


def _too_many_pixels():
    message = "The image has too many pixels: upload a smaller photo"
    raise PayloadTooLarge(message, code="image_too_large", fields={"image": [message]})
