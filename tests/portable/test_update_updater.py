# Board-side updater and boot selector (firmware/updater.py, firmware/boot_select.py) on a real
# directory: full update, resume, refusals, self-test, boot budget. CPython and MicroPython.
from _update_power import boot, clean, fresh_root, full_update, keep_files, make_updater, provision, running, send_image
from _update_util import KEY, OTHER_KEY, PUBKEY, make_hmac_image, make_image

from firmware import boot_select, ed25519, update_image, updater


def _refused(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except update_image.ImageError as exc:
        return exc
    raise AssertionError("not refused: %r" % (args,))


def test_update_full_update_keeps_codes_events_config():
    root = fresh_root()
    provision(root, "1.0.0")
    before = keep_files(root)
    assert full_update(root, make_image("1.1.0")) == "1.1.0"
    assert running(root) == ("b", "1.1.0", False)
    assert keep_files(root) == before
    # and once more, back into slot a
    assert full_update(root, make_image("1.2.0")) == "1.2.0"
    assert running(root) == ("a", "1.2.0", False)
    assert keep_files(root) == before
    clean(root)


def test_update_resume_after_dropped_link_and_reboot():
    root = fresh_root()
    provision(root)
    image = make_image("1.1.0")
    up = make_updater(root, slot="a")
    off = up.begin(len(image))
    assert off == 0
    off = up.write(0, image[:100])
    off = up.write(off, image[off:off + 50])
    assert off == 150
    assert up.status()["state"] == "receiving" and up.status()["offset"] == 150
    # the board reboots; the host asks where to resume
    up = make_updater(root, slot=boot(root)[0])
    assert up.status()["offset"] == 150
    assert up.begin(len(image)) == 150
    # a chunk repeated after a lost reply is accepted without writing it twice
    assert up.write(100, image[100:150]) == 150
    assert up.write(120, image[120:200]) == 200
    exc = _refused(up.write, 260, image[260:300])
    assert exc.code == "offset" and "resend from 200" in exc.message
    off = 200
    while off < len(image):
        off = up.write(off, image[off:off + 33])
    assert up.status()["state"] == "receiving" and up.status()["complete"]
    assert up.commit()["version"] == "1.1.0"
    assert boot(root)[1]["version"] == "1.1.0"
    clean(root)


def test_update_announced_sha256_checked_at_commit():
    root = fresh_root()
    provision(root)
    image = make_image("1.1.0")
    up = make_updater(root, slot="a")
    up.begin(len(image), sha256="00" * 32)
    up.write(0, image)
    exc = _refused(up.commit)
    assert exc.code == "hash" and "announced" in exc.message
    assert running(root) == ("a", "1.0.0", False)
    up.begin(len(image), sha256=update_image.hexlify(update_image.hashlib.sha256(image).digest()))
    up.write(0, image)
    assert up.status()["state"] == "receiving"
    up.commit()
    assert up.status()["state"] == "ready"
    slot = boot(root)[0]
    assert make_updater(root, slot=slot).status()["state"] == "testing"
    clean(root)


def test_update_different_image_restarts_staging():
    root = fresh_root()
    provision(root)
    a, b = make_image("1.1.0"), make_image("1.2.0", extra={"note": "other build"})
    up = make_updater(root, slot="a")
    up.begin(len(a), sha256="aa")
    up.write(0, a[:80])
    assert up.begin(len(b), sha256="bb") == 0
    clean(root)


def _assert_refused_and_old_running(root, image, code, before, **kwargs):
    up = make_updater(root, slot="a", **kwargs)
    exc = _refused(send_image, up, image)
    assert exc.code == code, (code, exc.code, exc.message)
    assert up.status()["error"].startswith(code)
    assert up.status()["state"] == "idle", up.status()
    assert running(root) == ("a", "1.0.0", False)
    assert keep_files(root) == before
    return exc


def test_update_refusals_leave_old_version_running():
    root = fresh_root()
    before = keep_files(provision(root).root)
    exc = _assert_refused_and_old_running(root, make_image("1.1.0", key=OTHER_KEY), "untrusted", before)
    assert update_image.hexlify(update_image.key_id(PUBKEY)) in exc.message
    exc = _assert_refused_and_old_running(root, make_hmac_image("1.1.0"), "format", before)
    assert "HMAC" in exc.message
    exc = _assert_refused_and_old_running(root, make_image("1.1.0", family="other-board"), "family", before)
    assert "other-board" in exc.message
    exc = _assert_refused_and_old_running(root, make_image("0.9.0"), "downgrade", before)
    assert "0.9.0" in exc.message and "1.0.0" in exc.message
    _assert_refused_and_old_running(root, make_image("1.0.0"), "downgrade", before)
    exc = _assert_refused_and_old_running(root, make_image("1.1.0", min_protocol=3), "protocol", before)
    assert "3" in exc.message
    corrupt = bytearray(make_image("1.1.0"))
    corrupt[-5] ^= 0x40
    exc = _assert_refused_and_old_running(root, bytes(corrupt), "hash", before)
    assert "firmware/mod2.mpy" in exc.message
    clean(root)


def test_update_untrusted_signer_refused_before_payload_is_sent():
    root = fresh_root()
    provision(root)
    for image, code in ((make_image("1.1.0", key=OTHER_KEY, files=[("firmware/big.mpy", b"x" * 4000)]), "untrusted"),
                        (make_image("1.1.0", family="other-board", files=[("firmware/big.mpy", b"x" * 4000)]),
                         "family")):
        up = make_updater(root, slot="a")
        off = up.begin(len(image))
        sent = 0
        try:
            while off < len(image):
                off = up.write(off, image[off:off + 128])
                sent = off
        except update_image.ImageError as exc:
            assert exc.code == code, (exc.code, code)
        else:
            raise AssertionError("accepted")
        assert sent < 1000, "refused only after %d bytes" % sent
    clean(root)


def _tamper(image, pos):
    bad = bytearray(image)
    bad[pos] ^= 0x02
    return bytes(bad)


def test_update_tampered_images_refused_and_nothing_changes():
    root = fresh_root()
    before = keep_files(provision(root).root)
    image = make_image("1.1.0")
    mlen = int.from_bytes(image[8:12], "big")
    sig_at = update_image.HEADER_SIZE + mlen
    manifest_digit = image.index(b'"version": "1.1.0"') + len(b'"version": "1.')  # still valid JSON: 1.1.0 -> 1.3.0
    assert _tamper(image, manifest_digit)[manifest_digit] == ord("3")
    cases = ((manifest_digit, "signature"),  # a manifest that still parses and passes the policy: caught at commit
             (update_image.HEADER_SIZE, "signature"),  # "{" -> "y": no JSON; named as tampering, not as a bad manifest
             (sig_at, "signature"), (sig_at + 40, "signature"),  # R and S of the signature
             (sig_at + 64 + 3, "hash"), (len(image) - 1, "hash"))  # payload: the file's SHA-256 in the manifest
    for pos, code in cases:
        _assert_refused_and_old_running(root, _tamper(image, pos), code, before)
    assert full_update(root, image) == "1.1.0"  # the untampered image goes in
    clean(root)


def test_update_commit_steps_is_commit_unit_by_unit_and_guards_the_staging():
    root = fresh_root()
    provision(root)
    image = make_image("1.1.0", files=[("firmware/big.py", bytes(range(256)) * 12)])
    up = make_updater(root, slot="a")
    up.begin(len(image), sha256=update_image.hexlify(update_image.hashlib.sha256(image).digest()))
    up.write(0, image)
    steps = up.commit_steps()
    units = 0
    for _ in range(40):  # part way through the checks: the app would run here
        assert next(steps) is None
        units += 1
    assert _refused(up.write, 0, image[:10]).code == "busy"
    assert _refused(up.begin, len(image)).code == "busy"
    assert _refused(up.commit).code == "busy"
    assert up.status()["state"] == "receiving" and running(root) == ("a", "1.0.0", False)
    last = None
    for step in steps:
        units += 1
        last = step
    assert last["version"] == "1.1.0" and up.status()["state"] == "ready"
    assert boot(root)[1]["version"] == "1.1.0"
    # commit() is the same generator, ticking between its units
    root2 = fresh_root()
    provision(root2)
    up2 = make_updater(root2, slot="a")
    ticks = []
    up2.tick = lambda: ticks.append(1)
    up2.begin(len(image), sha256=update_image.hexlify(update_image.hashlib.sha256(image).digest()))
    up2.write(0, image)
    assert up2.commit()["version"] == "1.1.0" and len(ticks) == units - 1
    clean(root)
    clean(root2)


def test_update_abandoned_commit_steps_leave_the_staging_usable():
    root = fresh_root()
    provision(root)
    image = make_image("1.1.0")
    up = make_updater(root, slot="a")
    up.begin(len(image))
    up.write(0, image)
    steps = up.commit_steps()
    next(steps)
    steps.close()  # the loop gave up on it (e.g. a door opened): nothing switched, commit can run again
    assert running(root) == ("a", "1.0.0", False) and up.status()["complete"]
    assert up.commit()["version"] == "1.1.0"
    clean(root)


class _ChangingFs(boot_select.FlashFs):
    """Flips a byte of the staged image when it is opened for reading the `at`-th time: the staging
    changing on flash after some of the checks read it."""

    def __init__(self, root, at, pos):
        boot_select.FlashFs.__init__(self, root)
        self.at, self.pos, self.opens = at, pos, 0

    def open_read(self, rel):
        if rel == updater.STAGED_IMAGE:
            self.opens += 1
            if self.opens == self.at:
                with open(self.path(rel), "rb") as f:
                    data = bytearray(f.read())
                data[self.pos] ^= 0x02
                with open(self.path(rel), "wb") as f:
                    f.write(data)
        return boot_select.FlashFs.open_read(self, rel)


def test_update_staging_changed_after_the_signature_check_is_refused():
    # Opens of the staged image in commit (no SHA-256 announced): 1 signature, 2 manifest and file
    # hashes, 3 install. The manifest a commit installs by is the one whose digest was signed, read
    # back and checked against it; the files are checked against it as they are copied.
    image = make_image("1.1.0")
    manifest_at = update_image.HEADER_SIZE + 2
    payload_at = len(image) - 1
    for at, pos, code in ((2, manifest_at, "flash"), (3, manifest_at, "flash"), (3, payload_at, "hash"),
                          (2, payload_at, "hash")):
        root = fresh_root()
        provision(root)
        before = keep_files(root)
        fs = _ChangingFs(root, 0, pos)
        up = make_updater(root, fs=fs, slot="a")
        up.begin(len(image))
        up.write(0, image)
        fs.at, fs.opens = at, 0  # counted from the commit on
        exc = _refused(up.commit)
        assert exc.code == code, (at, pos, exc)
        assert fs.opens >= at
        assert running(root) == ("a", "1.0.0", False) and keep_files(root) == before
        clean(root)


def test_update_secrets_on_the_board_sign_nothing_it_accepts():
    """F3: whoever reads a board's flash learns its link key and the public keys it trusts. None of them
    signs an image the board (or any board) accepts: as an Ed25519 private key (naming its own key id or the
    trusted one) nor as the HMAC key of the retired format 1."""
    root = fresh_root()
    fs = provision(root)
    link_key = bytes(range(200, 232))
    fs.write_json("config.json", {"address": 7, "key": update_image.hexlify(link_key),
                                  "fw_pubkeys": [update_image.hexlify(PUBKEY)], "family": "cunbox-locker-v1"})
    before = keep_files(root)
    found = []
    for path in ("config.json", "config/board.json"):
        text = fs.read(path).decode()
        run = ""
        for ch in text + " ":
            if ch in "0123456789abcdef":
                run += ch
                continue
            if len(run) == 64:
                found.append(bytes(int(run[i:i + 2], 16) for i in range(0, 64, 2)))
            run = ""
    assert link_key in found and PUBKEY in found and KEY not in found
    for secret in found:
        own = make_image("1.1.0", key=secret)
        _assert_refused_and_old_running(root, own, "untrusted", before)
        claimed = bytearray(own)
        claimed[16:24] = update_image.key_id(PUBKEY)
        _assert_refused_and_old_running(root, bytes(claimed), "signature", before)
        _assert_refused_and_old_running(root, make_hmac_image("1.1.0", key=secret), "format", before)
    assert ed25519.public_key(KEY) == PUBKEY  # only the maintainers' private key signs for this board
    assert full_update(root, make_image("1.1.0", key=KEY)) == "1.1.0"
    clean(root)


def test_update_explicit_downgrade_allowed():
    root = fresh_root()
    provision(root, "1.3.0")
    slot = boot(root)[0]
    send_image(make_updater(root, slot=slot), make_image("1.2.0"), allow_downgrade=True)
    assert boot(root)[1]["version"] == "1.2.0"
    clean(root)


def test_update_state_errors():
    root = fresh_root()
    provision(root)
    image = make_image("1.1.0")
    up = make_updater(root, slot="a")
    assert _refused(up.write, 0, b"abc").code == "state"
    assert _refused(up.commit).code == "state"
    assert _refused(up.begin, 10).code == "size"
    assert _refused(up.begin, 10 ** 7).code == "size"
    up.begin(len(image))
    up.write(0, image[:50])
    exc = _refused(up.commit)
    assert exc.code == "state" and "50 of" in exc.message
    assert _refused(up.write, 50, image[50:] + b"extra").code == "size"
    clean(root)


def test_update_update_refused_while_previous_on_trial():
    root = fresh_root()
    provision(root)
    send_image(make_updater(root, slot="a"), make_image("1.1.0"))
    slot = boot(root)[0]
    exc = _refused(make_updater(root, slot=slot).begin, 500)
    assert exc.code == "busy" and "1.1.0" in exc.message
    clean(root)


def test_update_failed_self_test_rolls_back_at_once():
    root = fresh_root()
    before = keep_files(provision(root).root)
    send_image(make_updater(root, slot="a"), make_image("1.1.0"))
    slot, m, p = boot(root)
    assert (slot, m["version"], p["trial"], p["tries"]) == ("b", "1.1.0", True, 1)
    assert make_updater(root, slot=slot).first_trial_boot()
    ok, failures = make_updater(root, slot=slot).confirm_if_healthy(
        {"doors": lambda: True, "locks": lambda: False, "journal": lambda: True, "link": lambda: True})
    assert not ok and failures == ["locks"]
    slot, version, trial = running(root)
    assert (slot, version, trial) == ("a", "1.0.0", False)
    p = boot_select.read_pointer(boot_select.FlashFs(root))
    assert "self-test failed: locks" in p["note"] and p["rejected"] == "b"
    assert keep_files(root) == before
    clean(root)


def test_update_crashing_check_counts_as_failure():
    root = fresh_root()
    provision(root)
    send_image(make_updater(root, slot="a"), make_image("1.1.0"))
    slot = boot(root)[0]

    def journal():
        raise OSError(5, "journal unreadable")

    ok, failures = make_updater(root, slot=slot).confirm_if_healthy({"journal": journal, "link": lambda: True})
    assert not ok and failures[0].startswith("journal")
    assert running(root)[1] == "1.0.0"
    clean(root)


def test_update_unconfirmed_version_rolls_back_after_boot_budget():
    root = fresh_root()
    provision(root)
    send_image(make_updater(root, slot="a"), make_image("1.1.0"))
    for tries in (1, 2, 3):  # the new version boots but never confirms (e.g. no link)
        slot, m, p = boot(root)
        assert (slot, m["version"], p["tries"]) == ("b", "1.1.0", tries)
    slot, m, p = boot(root)
    assert (slot, m["version"], p["trial"]) == ("a", "1.0.0", False)
    assert "did not confirm within 3 boots" in p["note"]
    up = make_updater(root, slot="a")
    assert up.rollback_notice() == "1.1.0"  # journaled once as FW_ROLLBACK by the old version
    assert up.rollback_notice() is None
    # the board can be updated again afterwards, into the rejected slot
    assert full_update(root, make_image("1.1.1")) == "1.1.1"
    clean(root)


def test_update_damaged_active_slot_falls_back():
    root = fresh_root()
    provision(root)
    full_update(root, make_image("1.1.0"))
    fs = boot_select.FlashFs(root)
    fs.write_new("fw/slot_b/firmware/mod1.mpy", b"bit rot")
    slot, m, p = boot(root)
    assert (slot, m["version"]) == ("a", "1.0.0")
    assert "damaged" in p["note"]
    clean(root)


def test_update_lost_pointer_boots_newest_complete_slot():
    root = fresh_root()
    provision(root)
    full_update(root, make_image("1.1.0"))
    boot_select.FlashFs(root).remove(boot_select.POINTER)
    assert running(root) == ("b", "1.1.0", False)
    clean(root)
