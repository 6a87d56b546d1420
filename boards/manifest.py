# ruff: noqa: F821  (a MicroPython manifest: include is defined by tools/manifestfile.py)
# Frozen modules of a cunbox board image, for the ESP32 and RP2040 ports of MicroPython 1.27:
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/to/cunbox/boards/manifest.py
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/abs/path/to/cunbox/boards/manifest.py
# The port's own frozen set first (asyncio, the networking bundle, onewire, ... from its
# boards/manifest.py, as a stock build has them), then protocol/ and firmware/ (boards/cunbox.py).
# See docs/board-build.md.
include("$(PORT_DIR)/boards/manifest.py")
include("cunbox.py")
