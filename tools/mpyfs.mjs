// The real MicroPython interpreter (the WebAssembly port, under Node.js) with repository files copied
// into its in-memory filesystem. Shared by tools/mpyrun.mjs (run a script) and bench/mpy_heap.mjs
// (run a script step by step for heap figures).
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript/micropython.mjs";
import fs from "node:fs";
import path from "node:path";

// Output goes straight to this process's stdout / stderr, unbuffered.
export async function loadInterpreter(heapsize) {
  return loadMicroPython({
    heapsize,
    stdout: (d) => process.stdout.write(d),
    stderr: (d) => process.stderr.write(d),
    linebuffer: false,
  });
}

export function mkdirs(mp, p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

// Copy SRC (a host file or directory) to DEST in the interpreter's filesystem. A file is copied as
// it is; from a directory, only files whose names end with one of `extensions` (recursively, without
// __pycache__ and dot-files).
export function copyInto(mp, src, dest, extensions) {
  if (fs.statSync(src).isFile()) {
    mkdirs(mp, path.posix.dirname(dest));
    mp.FS.writeFile(dest, fs.readFileSync(src));
    return;
  }
  mkdirs(mp, dest);
  for (const name of fs.readdirSync(src)) {
    if (name === "__pycache__" || name.startsWith(".")) continue;
    const s = path.join(src, name);
    const d = path.posix.join(dest, name);
    if (fs.statSync(s).isDirectory()) copyInto(mp, s, d, extensions);
    else if (extensions.some((ext) => name.endsWith(ext))) mp.FS.writeFile(d, fs.readFileSync(s));
  }
}
