# ruff: noqa: F821  (a MicroPython manifest: include/package are defined by tools/manifestfile.py)
# The cunbox modules a board image freezes: protocol/ and firmware/, every .py of each, compiled by the
# port's own mpy-cross (-march of the port) into the firmware's flash. Included by boards/manifest.py
# (ESP32, RP2040) and boards/unix_manifest.py (the unix port, to prove the manifest on a PC);
# docs/board-build.md says how each is built. Paths are relative to this file, so the repository can
# live anywhere.
package("protocol", base_path="..")
package("firmware", base_path="..")
