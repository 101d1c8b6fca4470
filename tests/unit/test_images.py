import io
import os
import struct
import xml.etree.ElementTree as ET
import zlib

import barcode
import pytest
from barcode.writer import ImageWriter
from PIL import Image, ImageFont

from plumbing.errors import PayloadTooLarge, ValidationFailed
from gateway.images import barcode_png, barcode_svg, decode_image, qr_png, qr_svg
from services.redemption.codes import generate_code
from services.redemption.contract.codes import format_code
from services.redemption.qr_signing import sign_payload, verify_payload

KEY = b"test-key"


def photograph(png, angle=7, scale=1.3, canvas_margin=120):
    """Roughly what a phone does: tilted, resampled, on a grey desk, JPEG-compressed."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor="white")
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    canvas = Image.new("RGB", (image.width + 2 * canvas_margin, image.height + 2 * canvas_margin),
                       (210, 210, 210))
    canvas.paste(image, (canvas_margin + 17, canvas_margin - 9))
    return encode(canvas, "JPEG", quality=85)


def encode(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def refused(data, **limits):
    with pytest.raises((ValidationFailed, PayloadTooLarge)) as caught:
        decode_image(data, **limits)
    assert list(caught.value.fields) == ["image"]
    return caught.value


def test_photographed_qr_gives_back_the_signed_payload():
    code = generate_code()
    payload = sign_payload(code, KEY)
    found = decode_image(photograph(qr_png(payload)))
    assert found == [{"text": payload, "format": "qr"}]
    assert verify_payload(found[0]["text"], KEY) == code


def test_photographed_barcode_gives_back_the_code():
    code = generate_code()
    assert decode_image(photograph(barcode_png(format_code(code)), scale=0.9)) == [
        {"text": code, "format": "code128"}]


def test_barcode_renders_without_a_usable_font(monkeypatch):
    def no_freetype(*args, **kwargs):
        raise OSError("cannot open resource")
    monkeypatch.setattr(ImageFont, "truetype", no_freetype)
    code = generate_code()
    assert decode_image(barcode_png(code)) == [{"text": code, "format": "code128"}]


def test_every_code_in_one_photo_is_found():
    code = generate_code()
    payload = sign_payload(code, KEY)
    qr = Image.open(io.BytesIO(qr_png(payload))).convert("L")
    bars = Image.open(io.BytesIO(barcode_png(code))).convert("L")
    sheet = Image.new("L", (max(qr.width, bars.width) + 100, qr.height + bars.height + 150), 255)
    sheet.paste(qr, (50, 50))
    sheet.paste(bars, (50, qr.height + 100))
    found = decode_image(photograph(encode(sheet, "PNG"), angle=3))
    # both are read; zxing very rarely adds a ghost misread of the tilted barcode (about 1 photo
    # in 300), which the service then refuses like any unknown text
    assert {"text": code, "format": "code128"} in found and {"text": payload, "format": "qr"} in found
    assert len(found) <= 3


def test_other_barcode_formats_are_named_in_lower_case():
    out = io.BytesIO()
    barcode.get("ean13", "590123412345", writer=ImageWriter()).write(out)
    assert decode_image(out.getvalue()) == [{"text": "5901234123457", "format": "ean13"}]


@pytest.mark.parametrize("fmt, mode, options", [
    ("PNG", "1", {}), ("JPEG", "RGB", {"quality": 85}), ("WEBP", "RGB", {"quality": 80}),
    ("GIF", "P", {}), ("PNG", "RGBA", {}),
])
def test_accepted_image_formats(fmt, mode, options):
    payload = sign_payload(generate_code(), KEY)
    image = Image.open(io.BytesIO(qr_png(payload))).convert(mode)
    assert decode_image(encode(image, fmt, **options))[0]["text"] == payload


def test_qr_on_transparent_black_background_is_read():
    # Common from design tools: dark modules on fully transparent (0, 0, 0, 0) pixels.
    payload = sign_payload(generate_code(), KEY)
    mask = Image.open(io.BytesIO(qr_png(payload))).convert("L").point(lambda v: 255 - v)
    image = Image.new("RGBA", mask.size, (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), mask=mask)
    assert decode_image(encode(image, "PNG"))[0]["text"] == payload


def test_svg_outputs_are_svg_documents():
    code = generate_code()
    for svg in (qr_svg(sign_payload(code, KEY)), barcode_svg(code)):
        assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert format_code(code) in barcode_svg(code).decode()  # readable under the bars


def test_blank_image_has_no_code():
    error = refused(encode(Image.new("RGB", (800, 600), "white"), "JPEG"))
    assert isinstance(error, ValidationFailed)
    assert error.code == "image_no_code_found"


def png_bytes_truncated():
    png = qr_png("truncated")
    return png[: len(png) // 2]


def jpeg_bytes_truncated():
    image = Image.open(io.BytesIO(qr_png("truncated"))).convert("RGB")
    jpeg = encode(image, "JPEG")
    return jpeg[: len(jpeg) // 2]


@pytest.mark.parametrize("data", [
    b"", b"this is a text file, not a photo\n", "not bytes",
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    png_bytes_truncated(), jpeg_bytes_truncated(),
    encode(Image.new("RGB", (50, 50), "white"), "BMP"),  # an image, but not one we accept
])
def test_non_images_are_refused(data):
    error = refused(data)
    assert isinstance(error, ValidationFailed)
    assert error.code == "image_not_an_image"


def test_too_many_bytes_is_refused_before_reading():
    error = refused(os.urandom(6 * 1024 * 1024))
    assert isinstance(error, PayloadTooLarge) and error.status == 413
    assert error.code == "image_too_large"
    assert refused(qr_png("x" * 50), max_bytes=100).code == "image_too_large"


def test_too_many_pixels_is_refused_even_when_the_file_is_small():
    data = encode(Image.new("1", (10000, 3000), 1), "PNG")  # 30 Mpx in a few KB
    assert len(data) < 100_000
    error = refused(data)
    assert isinstance(error, PayloadTooLarge)
    assert error.code == "image_too_large"


def test_decompression_bomb_header_is_refused():
    # A PNG that claims 30000 x 30000 pixels: Pillow itself refuses it on open.
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))
    limit_before = Image.MAX_IMAGE_PIXELS
    assert refused(data).code == "image_too_large"
    assert Image.MAX_IMAGE_PIXELS == limit_before  # the process-wide limit is left alone
