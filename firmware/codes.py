# Offline pickup codes: per compartment a salt, a truncated hash and an expiry, never the code.
# hash = sha256(salt + code_ascii)[:16]; expiry is unix seconds (0 = no expiry); kind 1 pickup,
# 2 drop-off (protocol CODE_*). One code per compartment; a code that opens its compartment
# offline is used up (cleared) at once.
# Stored as one fixed-size table in the state file "codes", replaced atomically on every change.
import hashlib

from firmware.compat import u32_be

SALT_LEN = 8
HASH_LEN = 16
_SLOT = SALT_LEN + HASH_LEN + 5  # salt, hash, expiry u32, kind u8
CODE_LEN = 8


def code_hash(salt, code):
    return hashlib.sha256(bytes(salt) + bytes(code)).digest()[:HASH_LEN]


class CodeStore:
    def __init__(self, flash, count):
        self.flash = flash
        self.count = count
        raw = flash.read_atomic("codes")
        self._t = bytearray(count * _SLOT)
        if raw is not None:
            n = min(len(raw), len(self._t))
            self._t[:n] = raw[:n]

    def _slot(self, comp):
        if not 0 <= comp < self.count:
            raise ValueError("no such compartment")
        return comp * _SLOT

    def set(self, comp, salt, digest, expiry, kind=1):
        if len(salt) != SALT_LEN or len(digest) != HASH_LEN:
            raise ValueError("bad salt or hash length")
        if expiry < 0 or expiry > 0xFFFFFFFF:
            raise ValueError("bad expiry")
        i = self._slot(comp)
        self._t[i:i + SALT_LEN] = salt
        self._t[i + SALT_LEN:i + SALT_LEN + HASH_LEN] = digest
        self._t[i + 24:i + 28] = expiry.to_bytes(4, "big")
        self._t[i + 28] = kind
        self._save()

    def clear(self, comp):
        i = self._slot(comp)
        if self.has(comp):
            for k in range(i, i + _SLOT):
                self._t[k] = 0
            self._save()

    def clear_all(self):
        self._t = bytearray(len(self._t))
        self._save()

    def has(self, comp):
        i = self._slot(comp)
        for k in range(i + SALT_LEN, i + SALT_LEN + HASH_LEN):
            if self._t[k]:
                return True
        return False

    def expiry(self, comp):
        return u32_be(self._t, self._slot(comp) + 24)

    def kind(self, comp):
        return self._t[self._slot(comp) + 28]

    def digest(self, comp):
        i = self._slot(comp) + SALT_LEN
        return bytes(self._t[i:i + HASH_LEN])

    def installed(self):
        n = 0
        for c in range(self.count):
            if self.has(c):
                n += 1
        return n

    def match(self, code, now_unix):
        """(compartment, expired) for the code `code` (ASCII digits); compartment -1 if none.
        An expired code never opens (expired True tells the caller to report it). now_unix 0 means
        the board has no wall time yet, and then expiry cannot be judged."""
        code = bytes(code)
        t = self._t
        mv = memoryview(t)
        for c in range(self.count):
            i = c * _SLOT
            h = i + SALT_LEN
            if not self.has(c):
                continue
            d = hashlib.sha256(mv[i:h])  # no copies: hash straight from the table
            d.update(code)
            d = d.digest()
            k = 0
            while k < HASH_LEN and d[k] == t[h + k]:
                k += 1
            if k == HASH_LEN:
                exp = u32_be(t, i + 24)
                return c, bool(exp and now_unix and now_unix > exp)
        return -1, False

    def _save(self):
        self.flash.write_atomic("codes", self._t)
