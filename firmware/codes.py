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
        return _match(self._t, 0, _SLOT, self.count, code, now_unix)

    def _save(self):
        self.flash.write_atomic("codes", self._t)


def _match(t, base, slot, count, code, now_unix):
    """(slot, expired) of the first slot in table t whose hash is sha256(salt + code), or (-1, False).
    A slot at base + n * slot holds salt, hash, expiry u32; an all-zero hash is an empty slot."""
    code = bytes(code)
    mv = memoryview(t)
    for c in range(count):
        i = base + c * slot
        h = i + SALT_LEN
        k = 0
        while k < HASH_LEN and not t[h + k]:
            k += 1
        if k == HASH_LEN:
            continue  # empty
        d = hashlib.sha256(mv[i:h])  # no copies: hash straight from the table
        d.update(code)
        d = d.digest()
        k = 0
        while k < HASH_LEN and d[k] == t[h + k]:
            k += 1
        if k == HASH_LEN:
            exp = u32_be(t, h + HASH_LEN)
            return c, bool(exp and now_unix and now_unix > exp)
    return -1, False


# A peer slot: board address u8, compartment u8 (from 1), then salt, hash, expiry u32, kind u8.
_PEER = 2 + _SLOT


class PeerCodes:
    """The live codes of the other boards of this locker, so that a code typed or scanned here is
    known to be right (not counted against the throttle) and the board can send the person to the
    right door, or have the host open it. State file "peers"; one slot per (board, compartment)."""

    def __init__(self, flash, slots):
        self.flash = flash
        self.slots = slots
        raw = flash.read_atomic("peers")
        self._t = bytearray(slots * _PEER)
        if raw is not None:
            n = min(len(raw), len(self._t))
            self._t[:n] = raw[:n]

    def _find(self, board, comp):
        t = self._t
        free = -1
        for n in range(self.slots):
            i = n * _PEER
            if t[i] == board and t[i + 1] == comp:
                return n
            if free < 0 and not t[i]:
                free = n
        return -1 - free if free >= 0 else None  # -1 - free: not held, a free slot; None: full

    def set(self, board, comp, salt, digest, expiry, kind):
        """Hold it (True), or False when every slot is taken by another peer code."""
        if not 1 <= board <= 247 or not 1 <= comp <= 255:
            raise ValueError("bad board or compartment")
        if len(salt) != SALT_LEN or len(digest) != HASH_LEN or not 0 <= expiry <= 0xFFFFFFFF:
            raise ValueError("bad salt, hash or expiry")
        n = self._find(board, comp)
        if n is None:
            return False
        if n < 0:
            n = -1 - n
        i = n * _PEER
        t = self._t
        t[i] = board
        t[i + 1] = comp
        t[i + 2:i + 2 + SALT_LEN] = salt
        t[i + 2 + SALT_LEN:i + 2 + SALT_LEN + HASH_LEN] = digest
        t[i + 26:i + 30] = expiry.to_bytes(4, "big")
        t[i + 30] = kind
        self._save()
        return True

    def forget(self, board, comp):
        """Forget one peer code; board 0 forgets them all. Returns how many were held."""
        t = self._t
        n = 0
        for s in range(self.slots):
            i = s * _PEER
            if t[i] and (board == 0 or (t[i] == board and t[i + 1] == comp)):
                for k in range(i, i + _PEER):
                    t[k] = 0
                n += 1
        if n:
            self._save()
        return n

    def held(self):
        n = 0
        for s in range(self.slots):
            if self._t[s * _PEER]:
                n += 1
        return n

    def kind(self, board, comp):
        """The kind (1 pickup, 2 drop-off) of the peer code held for that door, or 0."""
        n = self._find(board, comp)
        return self._t[n * _PEER + 30] if n is not None and n >= 0 else 0

    def match(self, code, now_unix):
        """(board, compartment, expired, code_id) of the peer code `code`, or None."""
        n, expired = _match(self._t, 2, _PEER, self.slots, code, now_unix)
        if n < 0:
            return None
        i = n * _PEER
        return self._t[i], self._t[i + 1], expired, bytes(self._t[i + 2 + SALT_LEN:i + 6 + SALT_LEN])

    def _save(self):
        self.flash.write_atomic("peers", self._t)
