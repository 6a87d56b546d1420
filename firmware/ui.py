# What the person at the locker sees and hears. The app says a prompt key and its parameters
# (firmware/prompt_keys.py); Ui shows them on one screen, which renders them its own way, and says
# them through a text-to-speech module when one is fitted (firmware/prompts.py holds the words).
# After hold_ms with nothing new said the screen goes back to the idle prompt, so a door opened
# minutes ago is not still announced as open. board.py builds it from the config.
from firmware import gb2312, prompts
from firmware import prompt_keys as K
from firmware.compat import ticks_diff


class Ui:
    def __init__(self, clock, screen=None, voice=None, hold_ms=0):
        self.clock = clock
        self.screen = screen  # .show(key, args), or None
        self.voice = voice  # .speak(GB2312 bytes) (firmware/syn6288.py), or None
        self.hold_ms = hold_ms  # 0: a prompt stays until the next (and no idle prompt at all)
        self._since = None  # ticks of the prompt on the screen, None when it is the idle one
        if hold_ms and screen is not None:
            screen.show(K.IDLE, ())

    def say(self, key, args=()):
        if self.screen is not None:
            self.screen.show(key, args)
        if self.voice is not None:
            text = prompts.spoken(key, args)
            if text:
                self.voice.speak(gb2312.encode(text))
        self._since = self.clock.ms()

    def poll(self, now):
        if self._since is not None and self.hold_ms and ticks_diff(now, self._since) >= self.hold_ms:
            self._since = None
            if self.screen is not None:
                self.screen.show(K.IDLE, ())


class LcdScreen:
    """The Chinese text on a character LCD (firmware/st7920.py)."""

    def __init__(self, lcd):
        self.lcd = lcd

    def show(self, key, args):
        self.lcd.show(gb2312.encode(prompts.screen(key, args)))


class SegmentScreen:
    """The short ASCII text (firmware/prompts.py's fallback), for a segment display that cannot show
    Chinese, cut to `width` characters when that is not 0. write(text) gets it; with uart=True,
    write is a UART's and gets each text as one ASCII line ending in CR LF."""

    def __init__(self, write, width=0, uart=False):
        self.write = write
        self.width = width
        self.uart = uart

    def show(self, key, args):
        text = prompts.fallback(key, args)
        if self.width:
            text = text[:self.width]
        self.write(text.encode() + b"\r\n" if self.uart else text)
