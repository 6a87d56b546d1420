"""A simulated board's flash, where the power can fail in the middle of any change.

The firmware sees its flash through two classes of its own, both plain files under the board's
directory: firmware.flash.Flash (the journal and the state files, flash/) and
firmware.boot_select.FlashFs (firmware slots, boot pointer and staging, fw/). Their interfaces do
not fit one class (same method names, other meanings: read() of a missing file returns None in one
and raises in the other, write_atomic() adds a CRC trailer in one only), so SimFlash is the chip
under both: `as_flash(root)` and `as_flashfs(root)` are the firmware's own classes with their one
write hook (Flash._put, FlashFs._op) routed through `change()`, where every change is counted and
the power can go:
- `arm(n)`: the write that crosses n more bytes keeps only the bytes inside the budget;
- `arm_change(when)`: at the first change for which when(kind, rel, n) is true (kind "write",
  "append", "rename", "remove", "mkdir", "rmdir", "create"; rel the file as the view names it:
  "fw/..." below the board's root, a bare name in flash/; n counts changes since power-on), a
  write keeps half its bytes and anything else does not happen.
Either is one shot. Files are opened and closed per write, so what is on disk is what a flash keeps.
"""
from firmware.boot_select import FlashFs
from firmware.flash import Flash
from hardware_sim.machine import PowerLoss


class SimFlash:
    def __init__(self, board=None):
        """board: the SimBoard whose supply this is (its `powered`; power_failed(why) on a cut)."""
        self.board = board
        self.budget = None  # bytes that may still be written before the power fails
        self.when = None  # callable(kind, rel, n) -> True: the power fails at that change
        self.bytes_written = 0
        self.changes = 0  # since power-on
        self.dead = False

    def power_on(self, when=None):
        """A new power-on: nothing armed (but `when`), the change count from 0."""
        self.budget = None
        self.when = when
        self.changes = 0
        self.dead = False

    def arm(self, budget):
        self.budget = budget

    def arm_change(self, when):
        self.when = when

    def as_flash(self, root):
        return _Flash(self, root)

    def as_flashfs(self, root):
        return _FlashFs(self, root)

    def change(self, kind, rel, data=None):
        """Called before every change; returns how many bytes of `data` reach the flash (all, unless
        the power fails in this write). Raises PowerLoss when the power is gone, or goes now with
        nothing of this change done."""
        if self.dead or (self.board is not None and not self.board.powered):
            raise PowerLoss("no power")
        n = self.changes
        self.changes += 1
        size = 0 if data is None else len(data)
        keep, why = size, None
        if self.when is not None and self.when(kind, rel, n):
            self.when = None
            keep, why = size // 2 if size > 1 else 0, "power cut at %s %s" % (kind, rel)
        elif self.budget is not None:
            if size > self.budget:
                keep, why = self.budget, "power cut %d bytes into %s %s" % (self.budget, kind, rel)
                self.budget = 0
            else:
                self.budget -= size
        self.bytes_written += keep
        if why is not None:
            self.dead = True
            if self.board is not None:
                self.board.power_failed(why)
            if keep == 0:
                raise PowerLoss(why)
        return keep


class _Flash(Flash):
    """firmware.flash.Flash on a SimFlash (the journal and state files)."""

    def __init__(self, chip, root):
        Flash.__init__(self, root)
        self.chip = chip
        self._writing = None

    def append(self, name, data):
        self._writing = ("append", name)
        Flash.append(self, name, data)

    def write_atomic(self, name, data):
        self._writing = ("write", name + ".tmp")
        Flash.write_atomic(self, name, data)

    def _put(self, f, data):
        kind, name = self._writing or ("write", None)
        n = self.chip.change(kind, name, data)
        f.write(bytes(data[:n]))
        if n != len(data):
            f.flush()
            raise PowerLoss("torn write")


class _FlashFs(FlashFs):
    """firmware.boot_select.FlashFs on a SimFlash (firmware slots, pointer, staging)."""

    def __init__(self, chip, root):
        FlashFs.__init__(self, root)
        self.chip = chip

    def _op(self, kind, rel, data=None):
        n = self.chip.change(kind, rel, data)
        return None if data is None else n

    def power_cut(self):
        return PowerLoss("torn write")
