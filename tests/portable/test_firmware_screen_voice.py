# The person's screen and voice on both runtimes: GB2312 from the generated table (MicroPython has no
# codec, so the expected bytes are written out here, from CPython's), the layout on the ST7920's
# 4 x 16 cells, the controller's serial frames, the SYN6288 frame, and the Ui that ties them together.
from firmware import gb2312, gbwrap, prompts, st7920, syn6288
from firmware import prompt_keys as K
from firmware.ui import LcdScreen, SegmentScreen, Ui
from hardware_sim.fakes import Clock, Pin, Uart

# "取件码或投递码不对，请核对后重新输入" as CPython's gb2312 codec encodes it
WRONG_GB = (b"\xc8\xa1\xbc\xfe\xc2\xeb\xbb\xf2\xcd\xb6\xb5\xdd\xc2\xeb\xb2\xbb\xb6\xd4\xa3\xac\xc7\xeb\xba\xcb"
            b"\xb6\xd4\xba\xf3\xd6\xd8\xd0\xc2\xca\xe4\xc8\xeb")
# "1-3号格口已打开，请取件，取完请关门"
OPEN_1_3_GB = (b"1-3\xba\xc5\xb8\xf1\xbf\xda\xd2\xd1\xb4\xf2\xbf\xaa\xa3\xac\xc7\xeb\xc8\xa1\xbc\xfe\xa3\xac"
               b"\xc8\xa1\xcd\xea\xc7\xeb\xb9\xd8\xc3\xc5")


def _args(key):
    """The longest parameters a prompt can get: board 247, door 128, a lock-out of an hour."""
    if key == K.WAIT:
        return (3600,)
    return (247, 128)


def test_gb2312_from_the_generated_table():
    assert gb2312.encode(prompts.screen(K.WRONG_CODE)) == WRONG_GB
    assert gb2312.encode(prompts.screen(K.OPEN_PICKUP, (1, 3))) == OPEN_1_3_GB
    assert gb2312.encode("AB 12#") == b"AB 12#"
    assert gb2312.encode("\u00e9\u4e00") == b"??"  # not used by any prompt: not in the table
    assert gb2312.encode("柜") == b"\xb9\xf1"


def test_every_prompt_encodes_fits_the_screen_and_has_an_ascii_fallback():
    for key in range(K.COUNT):
        args = _args(key)
        for text in (prompts.screen(key, args), prompts.spoken(key, args)):
            assert b"?" not in gb2312.encode(text), (key, text)  # every character in the table
        rows = gbwrap.layout(gb2312.encode(prompts.screen(key, args)), st7920.COLS)
        assert 1 <= len(rows) <= st7920.ROWS, (key, len(rows))
        short = prompts.fallback(key, args)
        assert len(short) <= 16 and all(32 <= ord(c) < 127 for c in short), (key, short)
    assert prompts.spoken(K.IDLE) == "" and prompts.fallback(K.OPEN_PICKUP, (2, 5)) == "OPEN 5"
    assert "-" not in prompts.spoken(K.PEER_OPENING, (2, 5))  # spoken as 杠, not minus


def _cells(row):
    """(column, width) of each character of a laid-out row."""
    out = []
    i = 0
    while i < len(row):
        w = 2 if row[i] >= 0x80 else 1
        out.append((i, w))
        i += w
    return out


def test_layout_keeps_chinese_characters_whole_and_on_even_cells():
    for key in range(K.COUNT):
        gb = gb2312.encode(prompts.screen(key, _args(key)))
        rows = gbwrap.layout(gb)
        assert b"".join(rows).replace(b" ", b"") == gb.replace(b" ", b"")  # nothing lost, nothing added
        for row in rows:
            assert len(row) == 16
            for col, w in _cells(row):
                assert w == 1 or (col % 2 == 0 and col + 2 <= 16), (key, row)
    # an odd run of ASCII is padded so the next Chinese character starts on an even cell
    assert gbwrap.layout(OPEN_1_3_GB)[0] == b"1-3 \xba\xc5\xb8\xf1\xbf\xda\xd2\xd1\xb4\xf2  "
    # "，" never starts a row: the character before it goes along (开 to row 2)
    assert gbwrap.layout(OPEN_1_3_GB)[1][:4] == b"\xbf\xaa\xa3\xac"
    # a number is not split over two rows
    assert gbwrap.layout(b"\xc7\xeb" * 7 + b"123")[1][:3] == b"123"
    assert gbwrap.lines(b"ab", 16, 4) == [b"ab" + b" " * 14] + [b" " * 16] * 3


class Spi:
    """An SPI bus that records each write with the chip-select level during it."""

    def __init__(self, cs):
        self.cs = cs
        self.writes = []

    def write(self, buf):
        self.writes.append((self.cs.v, bytes(buf)))


def _decode(writes):
    """What an ST7920 makes of the writes: (rs, byte) in order, checking the serial framing."""
    out = []
    for cs, buf in writes:
        assert cs == 1  # chip select is active high
        assert buf[0] in (0xF8, 0xFA) and len(buf) % 2 == 1
        for k in range(1, len(buf), 2):
            assert buf[k] & 0x0F == 0 and buf[k + 1] & 0x0F == 0  # each nibble in the upper half
            out.append((1 if buf[0] == 0xFA else 0, buf[k] | (buf[k + 1] >> 4)))
    return out


def _ddram(ops):
    """The 4 visible rows after these operations (set-address instructions and data writes)."""
    mem = bytearray(b"?" * 128)
    ac = 0
    phase = 0
    for rs, b in ops:
        if rs == 0:
            if b & 0x80:
                ac = b & 0x3F
                phase = 0
            continue
        mem[2 * ac + phase] = b
        phase ^= 1
        if phase == 0:
            ac += 1
    return [bytes(mem[2 * w:2 * w + 16]) for w in (0x00, 0x10, 0x08, 0x18)]


def test_st7920_init_and_rows_in_serial_frames():
    cs = Pin(0)
    spi = Spi(cs)
    slept = []
    lcd = st7920.St7920(spi, cs, slept.append)
    lcd.init()
    assert slept == [st7920.POWER_ON_MS] and cs.v == 0
    assert _decode(spi.writes) == [(0, 0x30), (0, 0x30), (0, 0x0C), (0, 0x06)]
    assert spi.writes[2][1] == b"\xf8\x00\xc0"  # 0x0C sent as 0x00, 0xC0
    del spi.writes[:]
    lcd.show(OPEN_1_3_GB)
    ops = _decode(spi.writes)
    assert [b for rs, b in ops if rs == 0] == [0x80, 0x90, 0x88, 0x98]
    assert _ddram(ops) == gbwrap.lines(OPEN_1_3_GB)
    # the same text again writes nothing; a shorter one rewrites only the rows that change
    del spi.writes[:]
    lcd.show(OPEN_1_3_GB)
    assert spi.writes == []
    lcd.show(OPEN_1_3_GB[:18])
    assert [b for rs, b in _decode(spi.writes) if rs == 0] == [0x90, 0x88]


def test_syn6288_frame():
    hello = b"\xc4\xe3\xba\xc3"  # 你好
    f = syn6288.frame(hello)
    x = 0
    for b in f[:-1]:
        x ^= b
    assert bytes(f[:5]) == b"\xfd\x00\x07\x01\x00" and bytes(f[5:9]) == hello and f[9] == x and len(f) == 10
    # the module's own stop command follows the same rule: FD 00 02 02, then the XOR FD
    assert 0xFD ^ 0x00 ^ 0x02 ^ 0x02 == 0xFD
    long_text = b"a" + b"\xc7\xeb" * 120  # 241 bytes: cut to 199, not between the bytes of a character
    f = syn6288.frame(long_text)
    assert (f[1] << 8 | f[2]) == 199 + 3 and len(f) == 199 + 6
    u = Uart()
    u.feed(b"\x41")
    syn6288.Syn6288(u).speak(hello)
    assert u.any() == 0 and u.take() == bytes(syn6288.frame(hello))


class Voice_:
    def __init__(self):
        self.spoken = []

    def speak(self, gb):
        self.spoken.append(bytes(gb))


def test_ui_shows_says_and_goes_back_to_idle():
    clock = Clock()
    cs = Pin(0)
    spi = Spi(cs)
    lcd = st7920.St7920(spi, cs)
    lcd.init()
    module = Voice_()
    ui = Ui(clock, LcdScreen(lcd), module, hold_ms=20000)
    assert _ddram(_decode(spi.writes))[0] == gbwrap.lines(gb2312.encode(prompts.screen(K.IDLE)))[0]
    ui.say(K.WRONG_CODE, ())
    assert module.spoken == [WRONG_GB]
    assert _ddram(_decode(spi.writes)) == gbwrap.lines(WRONG_GB)
    clock.advance(19999)
    ui.poll(clock.ms())
    assert _ddram(_decode(spi.writes)) == gbwrap.lines(WRONG_GB)
    clock.advance(1)
    ui.poll(clock.ms())
    assert _ddram(_decode(spi.writes)) == gbwrap.lines(gb2312.encode(prompts.screen(K.IDLE)))
    assert module.spoken == [WRONG_GB]  # the idle prompt is shown, never spoken


def test_segment_screen_shows_the_short_text():
    shown = []
    ui = Ui(Clock(), SegmentScreen(shown.append), None)  # hold 0: as boards showed prompts before
    ui.say(K.OPEN_PICKUP, (1, 3))
    ui.say(K.PEER_USE_KEYPAD, (2, 7))
    ui.poll(10 ** 6)
    assert shown == ["OPEN 3", "USE 2-7"]
    cut = []
    SegmentScreen(cut.append, 8).show(K.OTHER_LOCKER, ())
    u = Uart()
    SegmentScreen(u.write, 0, True).show(K.WAIT, (30,))
    assert cut == ["OTHER LO"] and u.take() == b"WAIT 30\r\n"
