"""QR codes for pickup: payload format, check digit, PNG and SVG rendering (qrcode).

Payload: "CBX1:<locker_id>:<code><check>", where code is the 8-digit pickup code and check is its
Luhn check digit, so a scanner can reject a misread before it costs a throttled attempt.
"""
import io
import re

import qrcode
import qrcode.image.svg

PAYLOAD_RE = re.compile(r"^CBX1:(\d{1,10}):(\d{8})(\d)$")


def luhn_digit(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled positions, counting from the digit next to the check digit
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def payload(locker_id, code):
    return "CBX1:%d:%s%s" % (locker_id, code, luhn_digit(code))


def parse_payload(text):
    """-> (locker_id, code) or ValueError if malformed or the check digit is wrong."""
    m = PAYLOAD_RE.match(text or "")
    if not m:
        raise ValueError("not a cunbox pickup QR payload")
    if luhn_digit(m.group(2)) != m.group(3):
        raise ValueError("check digit does not match")
    return int(m.group(1)), m.group(2)


def _qr(text):
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    return qr


def matrix(text):
    """The module matrix (True = dark), border included."""
    return _qr(text).get_matrix()


def png(text):
    buf = io.BytesIO()
    _qr(text).make_image().save(buf, format="PNG")
    return buf.getvalue()


def svg(text):
    buf = io.BytesIO()
    _qr(text).make_image(image_factory=qrcode.image.svg.SvgImage).save(buf)
    return buf.getvalue()
