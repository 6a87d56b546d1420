# The pickup QR payload, shared by the board (scanner) and the server (notification):
#     CBX1:<locker_id>:<8-digit code><check digit>
# The check digit is the Luhn (mod 10) digit of the 8 code digits. The locker id may hold any
# printable character but ':'.
PREFIX = "CBX1"


def luhn_digit(digits):
    total = 0
    double = True  # the check digit will sit to the right, so the rightmost code digit is doubled
    for ch in reversed(digits):
        d = ord(ch) - 48
        if double:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        double = not double
    return chr(48 + (10 - total % 10) % 10)


def make_payload(locker_id, code):
    if ":" in locker_id or len(code) != 8 or not code.isdigit():
        raise ValueError("bad locker id or code")
    return "%s:%s:%s%s" % (PREFIX, locker_id, code, luhn_digit(code))


def parse_payload(text):
    """(locker_id, code) from a scanned payload; raises ValueError naming what is wrong."""
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise ValueError("not a cunbox pickup code")
    digits = parts[2]
    if len(digits) != 9 or not digits.isdigit():
        raise ValueError("code must be 8 digits and a check digit")
    if luhn_digit(digits[:8]) != digits[8]:
        raise ValueError("check digit mismatch")
    return parts[1], digits[:8]
