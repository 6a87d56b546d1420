// Heap figures for a MicroPython script, measured the only way this port allows: the WebAssembly
// port's gc.collect() frees nothing while Python code is running (it cannot scan the wasm stack),
// only between top-level runPython() calls. So the script is driven call by call:
//
//   node bench/mpy_heap.mjs [--copy DIR]... [--tree SRC=DEST]... SCRIPT.py STEP...
//
// --copy DIR copies the repository's DIR (.py files); --tree SRC=DEST copies .py and .mpy files
// from any directory SRC to DEST in the interpreter's filesystem (e.g. mpy-cross output); --file SRC=DEST
// copies one file of any kind (e.g. a firmware image).
// SCRIPT.py is run once (definitions), then each STEP is a Python statement run in its own
// top-level call, with a full collection before it; the script records what it needs in globals
// and the last STEP prints the result.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { copyInto, loadInterpreter } from "../tools/mpyfs.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const copies = [];
const trees = [];
const files = [];
const rest = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--copy") copies.push(argv[++i]);
  else if (argv[i] === "--tree") trees.push(argv[++i].split("="));
  else if (argv[i] === "--file") files.push(argv[++i].split("="));
  else rest.push(argv[i]);
}
const mp = await loadInterpreter(512 * 1024);

for (const c of copies) copyInto(mp, path.join(root, c), "/" + c, [".py", ".mpy"]);
for (const [src, dest] of trees) copyInto(mp, src, dest, [".py", ".mpy"]);
for (const [src, dest] of files) copyInto(mp, src, dest, []);
try {
  mp.runPython("import sys\nsys.path.insert(0, '/')\nimport gc");
  mp.runPython(fs.readFileSync(path.resolve(rest[0]), "utf8"));
  for (const stmt of rest.slice(1)) {
    mp.runPython("gc.collect()");
    mp.runPython(stmt);
  }
} catch (error) {
  console.error(error.message || error);
  process.exit(1);
}
