// Run a Python script on the real MicroPython interpreter (the WebAssembly port, under Node.js).
//
//   node tools/mpyrun.mjs [--heap BYTES] [--copy DIR]... SCRIPT.py [ARG]...
//
// Each --copy DIR (relative to the repository root) is copied, .py/.json files only, into the
// interpreter's in-memory filesystem at the same relative path, and "/" is put on sys.path, so
// `import protocol` works exactly as on a board whose flash holds those folders. The script's
// arguments reach it as sys.argv[1:]. Exit status: the script's SystemExit code, 1 on an
// uncaught exception, 0 otherwise.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript/micropython.mjs";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

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

const mp = await loadMicroPython({
  heapsize: heap,
  stdout: (d) => process.stdout.write(d),
  stderr: (d) => process.stderr.write(d),
  linebuffer: false,
});

function mkdirs(p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

function copyTree(rel) {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return;
  const st = fs.statSync(abs);
  if (st.isFile()) {
    mkdirs(path.posix.dirname("/" + rel));
    mp.FS.writeFile("/" + rel, fs.readFileSync(abs));
    return;
  }
  mkdirs("/" + rel);
  for (const name of fs.readdirSync(abs)) {
    if (name === "__pycache__" || name.startsWith(".")) continue;
    const child = path.posix.join(rel, name);
    const cabs = path.join(root, child);
    if (fs.statSync(cabs).isDirectory()) copyTree(child);
    else if (name.endsWith(".py") || name.endsWith(".json")) {
      mp.FS.writeFile("/" + child, fs.readFileSync(cabs));
    }
  }
}

for (const c of copies) copyTree(c);
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
