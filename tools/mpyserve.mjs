// A MicroPython interpreter (the pinned WebAssembly port) kept alive to serve code over stdin/stdout,
// used by hardware_sim/usb_repl_board.py to stand in for a board's USB REPL.
//
//   node tools/mpyserve.mjs [--heap BYTES]
//
// Each stdin line is JSON {"code": "..."} or {"reset": true}; each reply is one JSON line
// {"out": base64, "err": base64}: what the code printed, and the traceback text if it raised,
// exactly as a board's raw REPL returns them. The in-memory filesystem lives as long as the process.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript/micropython.mjs";
import readline from "node:readline";

let heap = 4 * 1024 * 1024;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) if (argv[i] === "--heap") heap = parseInt(argv[++i], 10);

let chunks = [];
const toBuf = (d) => (typeof d === "string" ? Buffer.from(d, "utf8") : Buffer.from(d));
const mp = await loadMicroPython({
  heapsize: heap,
  stdout: (d) => chunks.push(toBuf(d)),
  stderr: (d) => chunks.push(toBuf(d)),
  linebuffer: false,
});
mp.runPython("import sys\nsys.path.insert(0, '/')\n");

// Soft reset: forget the program's globals and every module imported from the filesystem.
const RESET = "import sys\nfor _k in list(sys.modules):\n    del sys.modules[_k]\n" +
  "for _k in [k for k in globals() if not k.startswith('__')]:\n    del globals()[_k]\n";

function run(code) {
  chunks = [];
  let err = "";
  try {
    mp.runPython(code);
  } catch (error) {
    if (error.name !== "PythonError") err = String(error) + "\n";
    else err = error.message.endsWith("\n") ? error.message : error.message + "\n";
  }
  return { out: Buffer.concat(chunks).toString("base64"), err: Buffer.from(err, "utf8").toString("base64") };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  const reply = req.reset ? run(RESET) : run(req.code);
  process.stdout.write(JSON.stringify(reply) + "\n");
}
