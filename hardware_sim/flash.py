"""The board's flash directory, with a power cut that can strike in the middle of a write.

SimFlash is the firmware's own Flash with one hook changed: once armed with a byte budget, the
write that crosses it puts only the bytes inside the budget on disk, and the board loses power
there. Files are opened and closed per write, so what is on disk is exactly what a flash keeps.
"""
from firmware.flash import Flash
from hardware_sim.machine import PowerLoss


class SimFlash(Flash):
    def __init__(self, root, board=None):
        Flash.__init__(self, root)
        self.board = board
        self.budget = None  # bytes that may still be written before the power fails
        self.bytes_written = 0

    def arm(self, budget):
        self.budget = budget

    def _put(self, f, data):
        if self.board is not None and not self.board.powered:
            raise PowerLoss()
        if self.budget is not None and len(data) > self.budget:
            f.write(bytes(data[:self.budget]))
            f.flush()
            self.bytes_written += self.budget
            self.budget = 0
            if self.board is not None:
                self.board.powered = False
            raise PowerLoss()
        f.write(data)
        self.bytes_written += len(data)
        if self.budget is not None:
            self.budget -= len(data)
