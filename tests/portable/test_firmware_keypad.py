from firmware.keypad_matrix import MatrixKeypad
from hardware_sim.fakes import Clock


class Wiring:
    """A 4x3 keypad: a column reads 0 when its row is driven low and the key between is held."""

    def __init__(self):
        self.rows = [self.Out(self) for _ in range(4)]
        self.cols = [self.In(self, c) for c in range(3)]
        self.held = None  # (row, col)

    class Out:
        def __init__(self, w):
            self.v = 1

        def value(self, v=None):
            if v is None:
                return self.v
            self.v = v

    class In:
        def __init__(self, w, c):
            self.w = w
            self.c = c

        def value(self):
            h = self.w.held
            if h is not None and h[1] == self.c and self.w.rows[h[0]].v == 0:
                return 0
            return 1


def test_matrix_keypad_debounces_and_does_not_repeat():
    w = Wiring()
    clock = Clock()
    kp = MatrixKeypad(w.rows, w.cols, clock)

    def press(row, col, ms=60):
        w.held = (row, col)
        for _ in range(ms // 5):
            clock.advance(5)
            kp.any()
        w.held = None
        for _ in range(8):
            clock.advance(5)
            kp.any()

    press(0, 0)  # 1
    press(3, 2)  # #
    press(1, 1, 200)  # 5, held long: still one key
    w.held = (2, 0)  # a 5 ms blip on 7: bounce, not a key
    clock.advance(5)
    kp.any()
    w.held = None
    for _ in range(8):
        clock.advance(5)
        kp.any()
    assert kp.read() == b"1#5"
    assert kp.read() == b""
