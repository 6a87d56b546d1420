"""cunbox locker wire protocol: sans-IO, runs unchanged on CPython and MicroPython 1.27.

The spec is protocol/PROTOCOL.md; protocol/test_vectors.json is the contract both sides test against.
Modules: crc, cobs, errors, frame, auth, messages, timing, session. Import the one you need; this
package file stays tiny so a board pays only for what it imports.
"""

PROTOCOL_VERSION = 1
