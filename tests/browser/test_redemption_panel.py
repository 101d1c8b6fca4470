"""The redemption panel as a till uses it, on a 360-px phone screen: the voucher's own QR shown to
Chromium's fake camera, a photo of it uploaded, its code typed, and typed by a keyboard-wedge scanner
(ending in Enter); each time the check says what it will redeem (or exactly why not), the cashier adds
receipt remarks, confirms, sees the success screen and the voucher record, and the API agrees."""
import io

import pytest
from PIL import Image

from tests.browser.conftest import CAMERA_FLAGS, axe_violations, launch, shot

PHONE = {"width": 360, "height": 740}


def y4m_from_png(png, path, size=(640, 480), frames=8):
    """A Y4M video (YUV 4:2:0) whose every frame shows the QR, for --use-file-for-fake-video-capture."""
    qr = Image.open(io.BytesIO(png)).convert("L")
    side = min(size) - 80
    frame = Image.new("L", size, 255)
    frame.paste(qr.resize((side, side), Image.NEAREST), ((size[0] - side) // 2, (size[1] - side) // 2))
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (size[0] // 2, size[1] // 2)
    planes = y.tobytes() + cb.resize(half, Image.BOX).tobytes() + cr.resize(half, Image.BOX).tobytes()
    with open(path, "wb") as fh:
        fh.write(b"YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\n" % size)
        for _ in range(frames):
            fh.write(b"FRAME\n" + planes)
    return path


def redemption_of(api, code):
    items = api.call("GET", "/redemptions", "owner", params={"limit": 50}).json()["items"]
    return [r for r in items if r["voucher_code"].replace("-", "") == code.replace("-", "")]


def confirm_and_check(portal, api, voucher, remarks, artifacts, name):
    page = portal.page
    page.get_by_role("heading", name="Ready to redeem").wait_for()
    assert "Will redeem" in page.locator(".will-redeem").inner_text()
    shot(page, artifacts, name + "-checked")
    page.get_by_label("Receipt remarks").fill(remarks)
    page.get_by_role("button", name="Confirm redemption").click()
    page.get_by_role("heading", name="Redeemed").wait_for()
    page.get_by_role("heading", name="Voucher record").wait_for()
    record = page.locator(".voucher-record").inner_text()
    assert "Redeemed" in record and "1 of 1" in record
    shot(page, artifacts, name + "-redeemed")
    done = redemption_of(api, voucher["code"])
    assert len(done) == 1 and done[0]["receipt_remarks"] == remarks and done[0]["amount"] == voucher["value"]
    return done[0]


@pytest.fixture(scope="module")
def camera_voucher(api):
    return api.issue(3100)


@pytest.fixture(scope="module")
def camera_browser(playwright_instance, api, camera_voucher, tmp_path_factory):
    png = api.call("GET", "/vouchers/%s/qr.png" % camera_voucher["code"], "owner").content
    video = y4m_from_png(png, tmp_path_factory.mktemp("camera") / "qr.y4m")
    browser = launch(playwright_instance, CAMERA_FLAGS + ["--use-file-for-fake-video-capture=%s" % video])
    yield browser
    browser.close()


def test_a_store_user_scans_the_qr_with_the_camera_on_a_phone(camera_browser, camera_voucher, open_portal, api,
                                                              axe_source, artifacts):
    portal = open_portal("store_user", viewport=PHONE, on=camera_browser)
    portal.context.grant_permissions(["camera"])
    page = portal.go("redeem").page
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sideways
    page.get_by_role("button", name="Scan with camera").click()
    done = confirm_and_check(portal, api, camera_voucher, "till 2, receipt 7781", artifacts, "redeem-camera-360")
    assert done["method"] == "qr" and done["processed_by"]["username"] == "demo-store"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page, axe_source) == []
    portal.check_clean()


def test_an_owner_uploads_a_photo_of_the_qr_for_a_store_they_pick(open_portal, api, artifacts):
    voucher = api.issue(1800)
    png = api.call("GET", "/vouchers/%s/qr.png" % voucher["code"], "owner").content
    portal = open_portal("owner")
    page = portal.go("redeem").page
    page.get_by_label("Store redeeming").select_option(label="Canal Walk Kiosk")
    page.locator("input[type=file]").set_input_files(files=[{"name": "qr.png", "mimeType": "image/png", "buffer": png}])
    done = confirm_and_check(portal, api, voucher, "photo at the kiosk", artifacts, "redeem-photo")
    stores = {s["name"]: s["id"] for s in api.call("GET", "/merchants/%s/stores" % done["merchant_id"], "owner").json()["items"]}
    assert done["store_id"] == stores["Canal Walk Kiosk"]
    portal.check_clean()


def test_a_typed_code_and_a_keyboard_wedge_scan_and_a_refusal_that_says_why(open_portal, api, artifacts, axe_source):
    typed, wedged = api.issue(1200), api.issue(900)
    portal = open_portal("store_user", viewport=PHONE)
    page = portal.go("redeem").page
    # typed by hand, then the Check button
    page.get_by_label("Voucher code or scanned text").fill(typed["display_code"])
    page.get_by_role("button", name="Check", exact=True).click()
    confirm_and_check(portal, api, typed, "typed at till 1", artifacts, "redeem-typed-360")
    # a keyboard-wedge scanner types into the focused field and ends with Enter
    page.get_by_role("button", name="Redeem another").click()
    assert page.evaluate("document.activeElement.name") == "code"
    page.keyboard.type(wedged["code"] + "\n", delay=5)
    confirm_and_check(portal, api, wedged, "wedge scan", artifacts, "redeem-wedge-360")
    # the same voucher again: refused, and the panel says exactly why
    page.get_by_role("button", name="Redeem another").click()
    page.keyboard.type(wedged["code"] + "\n", delay=5)
    page.get_by_role("heading", name="Cannot be redeemed").wait_for()
    assert "voucher_already_redeemed" in page.locator(".check.refused").inner_text() \
        or "already" in page.locator(".check.refused").inner_text().lower()
    shot(page, artifacts, "redeem-refused-360")
    assert axe_violations(page, axe_source) == []
    assert len(redemption_of(api, wedged["code"])) == 1
    portal.check_clean()
