"""Board-side firmware updater: staged, resumable, verified, atomically switched, confirmed by self-test.

The board's protocol handler maps the firmware messages onto this object:

    FW_BEGIN(total, sha256?, allow_downgrade?) -> begin()    returns the offset to send from (resume)
    FW_CHUNK(offset, data)                     -> write()    returns the next expected offset
    FW_STATUS                                  -> status()   state, offset, total, running version, error
    FW_COMMIT                                  -> commit()   verify, install into the other slot, switch;
                                                             the caller then resets the board
                                                             (commit_steps(): the same, unit by unit)
    FW_CONFIRM / after boot                    -> confirm_if_healthy(checks)

Every refusal raises update_image.ImageError(code, message) and leaves the running firmware untouched.
The updater receives its filesystem root, so the simulator and the tests run it on a directory.
Layout and power-cut invariants: see boot_select.py.
"""
try:
    from firmware import boot_select, update_image
except ImportError:  # copied flat onto a board's root for recovery tools
    import boot_select
    import update_image

ImageError = update_image.ImageError

STAGING = "fw/staging"
STAGED_IMAGE = STAGING + "/image.bin"
STAGED_STATE = STAGING + "/state.json"
MAX_IMAGE = 768 * 1024


class Updater:
    def __init__(self, root, keys, family, protocol_version=None, fs=None, mpy_version=None, max_image=MAX_IMAGE,
                 running_slot=None, tick=None):
        self.fs = fs or boot_select.FlashFs(root)
        self.keys = keys
        self.family = family
        self.protocol_version = protocol_version
        self.mpy_version = mpy_version
        self.max_image = max_image
        p = boot_select.read_pointer(self.fs)
        # The slot this firmware was booted from; the pointer may change under it (commit) before reset.
        self.running_slot = running_slot or (p["active"] if p else None)
        self.last_error = None
        self._early_checked = False
        self._committing = False  # commit_steps() is running: the staging must not change
        self._versions = {}  # slot -> the version its slot.json names (_slot_version)
        # called between blocks of the long steps (hashing, installing), e.g. to feed the watchdog
        self.tick = tick or _nothing

    # --- what is running ---
    def running_manifest(self):
        if self.running_slot is None:
            return None
        return boot_select.slot_manifest(self.fs, self.running_slot, check_files=False)

    def running_version(self):
        return self._slot_version(self.running_slot)

    def _slot_version(self, slot):
        """The version a slot's slot.json names (None: no slot, or not complete), read once: a slot.json
        is the whole manifest, about 9 KB of heap to parse on a board, and only this updater changes one
        while the firmware runs (_install_steps, which keeps this up to date)."""
        if slot not in boot_select.SLOTS:
            return None
        if slot not in self._versions:
            m = boot_select.slot_manifest(self.fs, slot, check_files=False)
            self._versions[slot] = m["version"] if m else None
        return self._versions[slot]

    def _pointer(self):
        return boot_select.read_pointer(self.fs)

    def _on_trial(self):
        p = self._pointer()
        return bool(p and p.get("trial"))

    # --- staging ---
    def _state(self):
        return boot_select.read_json(self.fs, STAGED_STATE)

    def _refuse(self, code, message, clear=False):
        if clear:
            self.fs.rmtree(STAGING)
        self.last_error = "%s: %s" % (code, message)
        raise ImageError(code, message)

    def begin(self, total, sha256=None, allow_downgrade=False, resume=True):
        """Start receiving an image of `total` bytes, or with resume, continue one already being received
        (same size, SHA-256 and downgrade flag). Returns the offset to send from."""
        if self._committing:
            self._refuse("busy", "a commit is in progress")
        if self._on_trial():
            self._refuse("busy", "version %s is on trial and not confirmed yet; update after it confirms"
                         % self.running_version())
        smallest = update_image.HEADER_SIZE + update_image.SIG_SIZE
        if not isinstance(total, int) or total < smallest or total > self.max_image:
            self._refuse("size", "image size %r out of range %d..%d bytes"
                         % (total, smallest, self.max_image))
        st = self._state()
        if resume and st and st.get("total") == total and st.get("sha256") == sha256 \
                and bool(st.get("allow_downgrade")) == bool(allow_downgrade):
            if not self.fs.exists(STAGED_IMAGE):
                self.fs.write_new(STAGED_IMAGE, b"")
            self._early_checked = False
            return self.fs.size(STAGED_IMAGE)
        self.fs.rmtree(STAGING)
        self.fs.mkdirs(STAGING)
        self.fs.write_json(STAGED_STATE, {"total": total, "sha256": sha256, "allow_downgrade": bool(allow_downgrade)})
        self.fs.write_new(STAGED_IMAGE, b"")
        self._early_checked = False
        self.last_error = None
        return 0

    def write(self, offset, data):
        """Append a chunk at `offset`. A repeated chunk is accepted without writing it again.
        Returns the next offset expected."""
        if self._committing:
            self._refuse("busy", "a commit is in progress")
        st = self._state()
        if st is None:
            self._refuse("state", "no update in progress (begin first)")
        size = self.fs.size(STAGED_IMAGE)
        if size < 0:
            self.fs.write_new(STAGED_IMAGE, b"")
            size = 0
        if offset > size or offset < 0:
            self._refuse("offset", "chunk at offset %d but %d bytes are staged; resend from %d"
                         % (offset, size, size))
        end = offset + len(data)
        if end <= size:
            return size
        if end > st["total"]:
            self._refuse("size", "chunk ends at %d, past the image's %d bytes" % (end, st["total"]))
        self.fs.append(STAGED_IMAGE, data if size == offset else data[size - offset:])  # a slice is a copy
        self._check_early(end, st)
        return end

    def _check_early(self, staged, st):
        """As soon as header, manifest and signature are in, refuse a foreign or unwanted image without
        waiting for the rest of it to cross a slow link: format, signer (key id), manifest and policy.
        The Ed25519 check itself (about as long as a FW_CHUNK may take on an ESP32) waits for commit(),
        unless something is refused here: then it runs first, so a tampered image is named as such."""
        if self._early_checked or staged < update_image.HEADER_SIZE:
            return
        with self.fs.open_read(STAGED_IMAGE) as f:
            head = f.read(update_image.HEADER_SIZE)
        mlen = int.from_bytes(head[8:12], "big")
        if head[0:4] == update_image.MAGIC and staged < update_image.HEADER_SIZE + mlen + update_image.SIG_SIZE \
                and mlen <= update_image.MAX_MANIFEST:
            return
        try:
            with self.fs.open_read(STAGED_IMAGE) as f:
                part = update_image.read_signed_part(f, st["total"], self.keys)
            try:
                self._check_policy(part.manifest(), st)
            except ImageError:
                part.check_signature(self.tick)
                raise
        except ImageError as exc:
            self._refuse(exc.code, exc.message, clear=True)
        self._early_checked = True

    def _check_policy(self, manifest, st):
        update_image.check_policy(manifest, family=self.family, current_version=self.running_version(),
                             protocol_version=self.protocol_version,
                             allow_downgrade=bool(st.get("allow_downgrade")), mpy_version=self.mpy_version)

    def status(self):
        """state: idle | receiving (complete once offset == total, not yet committed) | ready (committed,
        boots on the next reset) | testing (running a new version not yet confirmed)."""
        st = self._state()
        p = self._pointer() or {}
        staged = self.fs.size(STAGED_IMAGE) if st else -1
        if p.get("trial"):
            state = "testing" if p.get("active") == self.running_slot else "ready"
        elif st is None:
            state = "idle"
        else:
            state = "receiving"
        fallback = p.get("fallback")
        return {"state": state, "offset": max(staged, 0), "total": st["total"] if st else 0,
                "complete": bool(st) and staged == st["total"],
                "version": self.running_version(), "slot": self.running_slot,
                "trial": bool(p.get("trial")), "tries": p.get("tries", 0),
                "fallback_version": self._slot_version(fallback),
                "error": self.last_error, "note": p.get("note")}

    # --- install and switch ---
    def commit(self):
        """Verify the whole staged image, install it into the other slot and switch to it on trial.
        Returns the new manifest; the caller resets the board to boot it. Runs commit_steps(), calling
        tick between its units of work."""
        manifest = None
        for manifest in self.commit_steps():
            if manifest is None:
                self.tick()
        return manifest

    def commit_steps(self):
        """commit() as a generator: yields None between units of work (a 1 KB block of the image's
        SHA-256, a unit of the Ed25519 check, a 512-byte block of a file checked, installed or read back)
        and last the new manifest, so a loop can run the app between units. While it runs, begin() and
        write() refuse ("busy"): the staged image must not change under it. A loop that gives up on it
        calls its close(), which ends that (the staging stays, commit can run again).

        The checks, in order: the announced SHA-256 of the whole image; the Ed25519 signature over
        SHA-256(header + manifest), the manifest hashed by blocks and not held while the signature is
        checked; the manifest read again and checked to hash to that signed digest, then parsed; every
        file's SHA-256 against it; the policy. The install then copies the files into the other slot
        from a second read of the staging, checked against the same manifest (each file's SHA-256 as it
        is copied, and once more as read back from the slot), after the header and manifest read back
        as the signed bytes once more; the signature itself is not checked a second time, as it would
        check the same 32-byte digest against the same signature and key."""
        if self._committing:
            self._refuse("busy", "a commit is already in progress")
        st = self._state()
        if st is None:
            self._refuse("state", "nothing staged (begin first)")
        size = self.fs.size(STAGED_IMAGE)
        if size != st["total"]:
            self._refuse("state", "image incomplete: %d of %d bytes staged" % (max(size, 0), st["total"]))
        if self._on_trial():
            self._refuse("busy", "a previous update is on trial and not confirmed yet")
        self._committing = True
        try:
            try:
                if st.get("sha256"):
                    h = update_image.hashlib.sha256()
                    for _ in self._blocks(h):
                        yield None
                    if update_image.hexlify(h.digest()) != st["sha256"]:
                        raise ImageError("hash", "staged image's SHA-256 differs from the one announced at begin")
                with self.fs.open_read(STAGED_IMAGE) as f:
                    signed = update_image.read_signed_digest(f, size, self.keys)
                yield None
                for _ in signed.signature_steps():
                    yield None
                yield None  # the last unit of the signature (R's encoding) apart from reading the manifest
                with self.fs.open_read(STAGED_IMAGE) as f:
                    manifest = signed.read_manifest(f)
                    yield None
                    for _entry, _chunk in update_image.iter_file_chunks(f, manifest):
                        yield None
                self._check_policy(manifest, st)
            except ImageError as exc:
                self._refuse(exc.code, exc.message, clear=True)
            p = self._pointer()
            current = self.running_slot or (p["active"] if p else "b")
            target = boot_select.other(current)
            try:
                for _ in self._install_steps(target, signed, manifest):
                    yield None
            except ImageError as exc:  # the flash did not keep what was written
                self._refuse(exc.code, exc.message)
            self.fs.write_json(boot_select.POINTER, {
                "active": target, "fallback": current, "trial": True, "tries": 0,
                "budget": (p or {}).get("budget", boot_select.DEFAULT_BUDGET),
                "note": "updated %s -> %s, on trial" % (self.running_version(), manifest["version"])})
            self.fs.rmtree(STAGING)
            self.last_error = None
        finally:
            self._committing = False
        yield manifest

    def _blocks(self, h):
        """Generator: the staged image into hash h by 1 KB blocks, yielding after each."""
        with self.fs.open_read(STAGED_IMAGE) as f:
            while True:
                block = f.read(1024)
                if not block:
                    break
                h.update(block)
                yield None

    def _install_steps(self, slot, signed, manifest):
        """Generator: the staged files into `slot`, checked against the verified `manifest` as they are
        copied and as they read back; yields between blocks."""
        d = boot_select.slot_dir(slot)
        self._versions[slot] = None
        self.fs.remove(d + "/slot.json")  # first: from here on the slot is incomplete
        self.fs.rmtree(d)
        self.fs.mkdirs(d)
        with self.fs.open_read(STAGED_IMAGE) as f:
            signed.skip_to_payload(f)
            w = None
            try:
                for entry, chunk in update_image.iter_file_chunks(f, manifest):
                    if w is None:
                        rel = d + "/" + entry["path"]
                        parent = rel.rsplit("/", 1)[0]
                        self.fs.mkdirs(parent)
                        w = self.fs.open_write(rel)
                    if chunk is None:
                        w.close()
                        w = None
                    else:
                        w.write(chunk)
                    yield None
            finally:
                if w is not None:
                    w.close()
        for entry in manifest["files"]:  # read back what the flash holds
            if not boot_select._file_matches(self.fs, d + "/" + entry["path"], entry):
                raise ImageError("flash", "file %s did not read back as written" % entry["path"])
            yield None
        manifest["installed_from"] = self.running_version()
        self.fs.write_json(d + "/slot.json", manifest)
        self._versions[slot] = manifest["version"]
        yield None

    # --- after boot ---
    def rollback_notice(self):
        """Once after a rollback (failed self-test, boot budget spent, damaged slot): the version that
        was rejected, so the firmware can journal FW_ROLLBACK; None otherwise."""
        p = self._pointer()
        if not p or "rejected" not in p or p.get("reported"):
            return None
        p["reported"] = True
        self.fs.write_json(boot_select.POINTER, p)
        return p.get("rejected_version") or "unknown"

    def first_trial_boot(self):
        """True on the first boot of a new version (HELLO reports reset cause FW_UPDATE)."""
        p = self._pointer()
        return bool(p and p.get("trial") and p.get("tries") == 1 and p.get("active") == self.running_slot)

    def confirm(self):
        p = self._pointer()
        if not p or not p.get("trial"):
            return False
        p["trial"] = False
        p["tries"] = 0
        p["note"] = "version %s confirmed after self-test" % self.running_version()
        self.fs.write_json(boot_select.POINTER, p)
        self.fs.rmtree(STAGING)
        return True

    def reject(self, why):
        """The new version failed its self-test: go back to the fallback now (the caller resets)."""
        p = self._pointer()
        if not p or not p.get("trial"):
            return False
        boot_select._rollback(self.fs, p, why)
        return True

    def confirm_if_healthy(self, checks):
        """Run the self-test (`checks`: name -> callable returning truthy when healthy, e.g. doors, locks,
        journal, link). All pass: confirm and return (True, []). Any fails while on trial: roll back now
        and return (False, failures); the caller resets the board."""
        failures = []
        for name in sorted(checks):
            try:
                ok = checks[name]()
            except Exception as exc:  # a crashing check is a failed check, with its reason
                ok = False
                name = "%s (%r)" % (name, exc)
            if not ok:
                failures.append(name)
        if failures:
            self.reject("self-test failed: " + ", ".join(failures))
            return False, failures
        self.confirm()
        return True, []


def _nothing():
    pass
