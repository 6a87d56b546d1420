"""The simulated ST7920 and SYN6288 imitate the devices (fed raw bytes here, not through the firmware's
drivers), and a simulated board shows at its console what its screen and voice module got."""
import pytest
from support.sim_session import answer, flat, wait_for

from firmware import prompt_keys as K
from firmware import prompts, syn6288
from hardware_sim.control import Controller
from hardware_sim.locker import SimLocker
from hardware_sim.st7920 import SimSt7920
from hardware_sim.syn6288 import SimSyn6288


def _nibbles(data):
    out = bytearray()
    for b in data:
        out += bytes((b & 0xF0, (b << 4) & 0xF0))
    return bytes(out)


def _instr(lcd, *codes):
    for c in codes:
        lcd.chip_select(1)
        lcd.clock_in(b"\xf8" + _nibbles([c]))
        lcd.chip_select(0)


def _data(lcd, data):
    lcd.chip_select(1)
    lcd.clock_in(b"\xfa" + _nibbles(data))
    lcd.chip_select(0)


def _on(lcd):
    _instr(lcd, 0x30, 0x0C, 0x06, 0x01)


def test_st7920_shows_what_its_ddram_holds_on_the_128x64_rows():
    lcd = SimSt7920()
    _data(lcd, b"AB")
    assert lcd.text() == ""  # the display is off until told
    _on(lcd)
    _instr(lcd, 0x80)
    _data(lcd, "柜门已打开".encode("gb2312"))
    _instr(lcd, 0x90)
    _data(lcd, b"No.12")
    assert lcd.rows()[0].rstrip() == "柜门已打开" and lcd.rows()[1].rstrip() == "No.12"
    # rows 3 and 4 of the module are the controller's rows 1 and 2 continued: 32 cells from 0x80 fill row 3
    _instr(lcd, 0x80)
    _data(lcd, b"0123456789abcdefGHIJKLMNOPQRSTUV")
    assert lcd.rows()[0] == "0123456789abcdef" and lcd.rows()[2] == "GHIJKLMNOPQRSTUV"
    _instr(lcd, 0x98)
    _data(lcd, b"end")
    assert lcd.rows()[3].rstrip() == "end"
    _instr(lcd, 0x01)
    assert lcd.text() == ""
    _instr(lcd, 0x08)  # display off: nothing readable, DDRAM kept
    _data(lcd, b"zz")
    assert lcd.text() == ""


def test_st7920_a_chinese_character_on_an_odd_cell_is_garbage():
    lcd = SimSt7920()
    _on(lcd)
    _instr(lcd, 0x80)
    _data(lcd, b"1" + "号".encode("gb2312") + b" ")
    assert lcd.rows()[0].rstrip() == "1??"  # the two bytes of 号 straddle two words
    _instr(lcd, 0x80)
    _data(lcd, b"1 " + "号".encode("gb2312"))
    assert lcd.rows()[0].rstrip() == "1 号"


def test_st7920_serial_framing():
    lcd = SimSt7920()
    _on(lcd)
    lcd.chip_select(1)
    lcd.clock_in(b"\xf8\x80\x00\xfa" + _nibbles(b"OK") + b"\x50")  # a half byte, then CS drops
    lcd.chip_select(0)
    lcd.chip_select(1)
    lcd.clock_in(b"\x20\x10")  # no sync byte since CS went high: ignored
    lcd.chip_select(0)
    lcd.clock_in(b"\xfa" + _nibbles(b"no"))  # CS low: ignored
    _instr(lcd, 0x34, 0x90, 0x30)  # in the extended set 0x90 is not a DDRAM address
    _data(lcd, b"!")
    assert lcd.rows()[0].rstrip() == "OK!" and lcd.instructions[-3:] == [0x34, 0x90, 0x30]


def test_syn6288_speaks_what_a_frame_carries():
    replies = []
    voice = SimSyn6288(reply=replies.append)
    text = "柜门已打开，请取件，取完请关门"
    good = bytes(syn6288.frame(text.encode("gb2312")))
    bad = bytearray(good)
    bad[-1] ^= 1
    voice.receive(b"\x00\x41" + good[:7])  # noise, then a frame split across writes
    voice.receive(good[7:] + bytes(bad))
    assert voice.spoken == [text] and voice.errors == 2 and replies == [b"\x41"]
    voice.receive(b"\xfd\x00\x02\x21\xde")  # status query (LibDriver's bytes): idle
    assert replies[-1] == b"\x41\x4f"


@pytest.fixture
def locker():
    lk = SimLocker(boards=1, compartments=4, transport="tcp")
    lk.start()
    yield lk
    lk.stop()


def test_board_console_shows_the_screen_and_the_voice(locker):
    b = locker.board(1)
    wait_for(lambda: b.display, what="the idle prompt")
    assert flat(b.display[0]) == prompts.screen(K.IDLE) and b.spoken == []
    said = answer(b, lambda: locker.type_code(1, "123#"))
    assert said == (prompts.spoken(K.NEED_8_DIGITS), prompts.screen(K.NEED_8_DIGITS))
    # the same answer twice: the screen does not change, the voice says it again
    answer(b, lambda: locker.type_code(1, "123#"))
    assert b.spoken == [prompts.spoken(K.NEED_8_DIGITS)] * 2
    con = Controller(locker)
    assert con.execute("display 1") == "ok 请输入8 位数字， | 按# 键确认"
    assert con.execute("voice 1") == "ok 请输入8位数字，按#键确认"
    state = b.state()
    assert flat(state["display"]) == prompts.screen(K.NEED_8_DIGITS) and state["voice"] == b.spoken[-1]
    assert not b.errors


def test_boards_with_a_segment_display_or_none_show_the_short_text():
    lk = SimLocker(board_specs=[{"address": 1, "display": "segment", "voice": None},
                                {"address": 2, "display": None, "voice": None}], compartments=2, transport="tcp")
    lk.start()
    try:
        for addr in (1, 2):
            b = lk.board(addr)
            lk.type_code(addr, "12345678#")
            wait_for(lambda b=b: b.display and b.display[-1] == "WRONG", what="WRONG on board %d" % addr)
            assert b.spoken == [] and b.screen() == ("WRONG" if addr == 1 else "")
        assert lk.board(1).display[0] == ""  # the segment display's idle prompt: blank
        assert lk.board(2).display == ["WRONG"]  # no display configured: the prompts as before, no idle
    finally:
        lk.stop()
