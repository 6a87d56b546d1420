// Run a Python script on the real MicroPython interpreter (the WebAssembly port, under Node.js).
//
//   node tools/mpyrun.mjs [--heap BYTES] [--copy DIR]... SCRIPT.py [ARG]...
//
// Each --copy DIR (relative to the repository root) is copied, .py/.json files only, into the
// interpreter's in-memory filesystem at the same relative path, and "/" is put on sys.path, so
// `import protocol` works exactly as on a board whose flash holds those folders. The script's
// arguments reach it as sys.argv[1:]. Exit status: the script's SystemExit code, 1 on an
// uncaught exception, 0 otherwise.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { copyInto, loadInterpreter } from "./mpyfs.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
let heap = 2 * 1024 * 1024;
const copies = [];
const rest = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--heap") heap = parseInt(argv[++i], 10);
  else if (argv[i] === "--copy") copies.push(argv[++i]);
  else rest.push(argv[i]);
}
if (rest.length === 0) {
  console.error("usage: node tools/mpyrun.mjs [--heap BYTES] [--copy DIR]... SCRIPT.py [ARG]...");
  process.exit(2);
}

const mp = await loadInterpreter(heap);

for (const rel of copies) {
  const abs = path.join(root, rel);
  if (fs.existsSync(abs)) copyInto(mp, abs, "/" + rel, [".py", ".json"]);
}
const script = fs.readFileSync(path.resolve(rest[0]), "utf8");
const args = JSON.stringify(rest);
const prelude = "import sys\nsys.path.insert(0, '/')\nsys.argv[:] = " + args + "\n";
try {
  mp.runPython(prelude);
  mp.runPython(script);
} catch (error) {
  if (error.name !== "PythonError") throw error;
  if (error.type === "SystemExit") {
    const m = /SystemExit: (\d+)/.exec(error.message);
    process.exit(m ? parseInt(m[1], 10) : 0);
  }
  console.error(error.message);
  process.exit(1);
}
