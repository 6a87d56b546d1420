# ruff: noqa: F821  (a MicroPython manifest: include is defined by tools/manifestfile.py)
# protocol/ and firmware/ alone, for MicroPython's unix port: `make board-unix` builds that port with
# it and runs the portable tests against the frozen modules (tools/board_unix.py). The unix port's
# own manifest (micropython-lib's ffi and ssl packages) is left out: it needs submodules a source
# snapshot may lack, and nothing here uses them.
include("cunbox.py")
