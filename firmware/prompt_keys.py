# What the locker can tell the person in front of it, one number per prompt. The app says a key and
# its parameters; the words live in firmware/prompts.py, and the screen and voice drivers render
# them. Kept apart from the words so a board without a screen or voice never loads them.
# The numbers index prompts.py's table: add new ones at the end.
IDLE = 0  # shown when nothing else is, never spoken
OPEN_PICKUP = 1  # board, door: a pickup code opened the door
OPEN_DROPOFF = 2  # board, door: a drop-off code opened the door
OPEN_FAILED = 3  # board, door: a right code, but the door did not open
BUSY = 4
CODE_EXPIRED = 5  # a pickup code past its expiry
DROPOFF_EXPIRED = 6  # a drop-off code past its expiry
WRONG_CODE = 7
WAIT = 8  # seconds: locked out after too many wrong codes
NEED_8_DIGITS = 9
BAD_QR = 10
OTHER_LOCKER = 11
PEER_OPENING = 12  # board, door: the host is opening a door on another board
PEER_USE_KEYPAD = 13  # board, door: link down, use the keypad of that door's board
COUNT = 14
