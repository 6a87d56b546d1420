# The words of every prompt (firmware/prompt_keys.py numbers them), each as
#   - a short ASCII text for a segment display (what the board showed before it had a Chinese screen),
#   - the Chinese a person reads on the LCD and hears from the voice module.
# Placeholders are str.format's {0}, {1}: the parameters the app passes (numbers only).
# A door is named as the server's pages and SMS name it, board-door ("1-3号格口"); spoken, the
# hyphen is said as 杠 so the voice module does not read it as minus.
#
# The LCD needs the GB2312 bytes of every Chinese character here, and MicroPython has no GB2312
# codec: tools/gen_gb2312_table.py writes them into firmware/gb2312_table.py. After changing a text,
# run `.venv/bin/python tools/gen_gb2312_table.py`; tests/firmware/test_firmware_gb2312_table.py fails until then.
from firmware import prompt_keys as K

_T = (
    ("", "请输入取件码或投递码，按#键确认"),  # IDLE
    ("OPEN {1}", "{0}-{1}号格口已打开，请取件，取完请关门"),  # OPEN_PICKUP
    ("OPEN {1}", "{0}-{1}号格口已打开，请放入包裹，放好请关门"),  # OPEN_DROPOFF
    ("FAULT {1}", "{0}-{1}号格口没有打开，请联系站点"),  # OPEN_FAILED
    ("BUSY", "柜机忙，请稍候再试"),  # BUSY
    ("EXPIRED", "取件码已过期，请联系站点"),  # CODE_EXPIRED
    ("EXPIRED", "投递码已过期，请联系站点"),  # DROPOFF_EXPIRED
    ("WRONG", "取件码或投递码不对，请核对后重新输入"),  # WRONG_CODE
    ("WAIT {0}", "输错次数太多，请{0}秒后再试"),  # WAIT
    ("8 DIGITS", "请输入8位数字，按#键确认"),  # NEED_8_DIGITS
    ("BAD QR", "无法识别这个二维码"),  # BAD_QR
    ("OTHER LOCKER", "这个二维码不是本柜机的"),  # OTHER_LOCKER
    ("OPENING {0}-{1}", "正在打开{0}-{1}号格口，请稍候"),  # PEER_OPENING
    ("USE {0}-{1}", "网络不通，请在{0}-{1}号格口那组柜子的键盘上输入"),  # PEER_USE_KEYPAD
)

if len(_T) != K.COUNT:  # a key without words (or words without a key) is a build mistake
    raise ImportError("prompts: %d texts for %d keys" % (len(_T), K.COUNT))


def fallback(key, args=()):
    """The short ASCII text, for a segment display."""
    return _T[key][0].format(*args)


def screen(key, args=()):
    """The Chinese text for the LCD (a str; firmware/gb2312.py encodes it)."""
    return _T[key][1].format(*args)


def spoken(key, args=()):
    """The Chinese text for the voice module; "" for a prompt that is only shown."""
    if key == K.IDLE:
        return ""
    return _T[key][1].replace("}-{", "}杠{").format(*args)


def texts():
    """Every Chinese text as it is shown and as it is spoken, for the table generator and the tests."""
    out = []
    for t in _T:
        out.append(t[1])
        out.append(t[1].replace("}-{", "}杠{"))
    return out
