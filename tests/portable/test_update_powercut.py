# Power cut at every single flash change of an update - while chunks arrive, after staging, while
# installing, at the switch, during the first boot, at the confirmation - and at every change of a
# rollback. After each cut the board powers up on the old or the new version (never on nothing),
# codes/events/config are intact, and the host can finish the update. CPython and MicroPython.
from _update_power import (
    CuttingFs,
    PowerCut,
    boot,
    clean,
    fresh_root,
    full_update,
    keep_files,
    make_updater,
    provision,
    running,
    send_image,
)
from _update_util import make_files, make_image

OLD, NEW = "1.0.0", "1.1.0"


def _image():
    return make_image(NEW, files=make_files(NEW, n=2, size=70) + [("protocol/empty.mpy", b"")])


def _finish(root, image):
    """The host comes back after the power returns: resume or restart, then first boot and confirm.
    Returns the offset the board reported it could resume from."""
    slot, m, p = boot(root)
    up = make_updater(root, slot=slot)
    resumed = 0
    if not p.get("trial") and m["version"] != NEW:
        resumed = up.begin(len(image))
        off = resumed
        while off < len(image):
            off = up.write(off, image[off:off + 64])
        up.commit()
        slot, m, p = boot(root)
        up = make_updater(root, slot=slot)
    if p.get("trial"):
        assert up.confirm_if_healthy({"link": lambda: True})[0]
    return resumed


def _count_ops(image):
    root = fresh_root()
    provision(root, OLD)
    fs = CuttingFs(root)
    full_update(root, image, fs)
    clean(root)
    return fs.ops, fs.log


def _cut_everywhere(torn):
    image = _image()
    total, log = _count_ops(image)
    kinds = set(k for k, _rel in log)
    assert {"write", "append", "rename", "remove", "rmdir", "mkdir", "create"} <= kinds, kinds
    resumed = 0
    seen = {}
    for k in range(total):
        root = fresh_root()
        before = keep_files(provision(root, OLD).root)
        fs = CuttingFs(root, cut_at=k, torn=torn)
        try:
            full_update(root, image, fs)
        except PowerCut:
            pass
        else:
            raise AssertionError("no power cut at change %d (%s)" % (k, log[k]))
        slot, version, _trial = running(root)  # never dead
        assert version in (OLD, NEW), (k, version)
        seen[version] = seen.get(version, 0) + 1
        assert keep_files(root) == before, "config/data changed by a cut at %d %s" % (k, log[k])
        if _finish(root, image) > 0:
            resumed += 1
        assert running(root)[1:] == (NEW, False), (k, log[k])
        assert keep_files(root) == before
        clean(root)
    assert seen.get(OLD) and seen.get(NEW), seen
    assert resumed, "no cut during the transfer was resumed from a non-zero offset"
    return total


def test_fwupd_power_cut_at_every_change_torn_writes():
    assert _cut_everywhere(torn=True) > 30


def test_fwupd_power_cut_at_every_change_before_it_happens():
    _cut_everywhere(torn=False)


def test_fwupd_power_cut_at_every_change_of_a_rollback():
    def on_last_trial_boot(root):
        send_image(make_updater(root, slot="a"), _image())
        for _ in range(3):
            boot(root)

    probe = fresh_root()
    provision(probe, OLD)
    on_last_trial_boot(probe)
    fs = CuttingFs(probe)
    boot(probe, fs)  # the boot that rolls back
    total = fs.ops
    clean(probe)
    assert total >= 2
    for k in range(total):
        root = fresh_root()
        provision(root, OLD)
        on_last_trial_boot(root)
        try:
            boot(root, CuttingFs(root, cut_at=k))
        except PowerCut:
            pass
        assert running(root) == ("a", OLD, False), k
        clean(root)


def test_fwupd_repeated_cuts_during_trial_boots_end_on_a_version():
    """Power failing again and again while the new version starts: each failed start spends the
    budget, and the board ends on the old version, still working."""
    root = fresh_root()
    provision(root, OLD)
    send_image(make_updater(root, slot="a"), _image())
    versions = []
    for _ in range(6):
        slot, m, _p = boot(root)
        versions.append(m["version"])
    assert versions == [NEW, NEW, NEW, OLD, OLD, OLD], versions
    clean(root)
