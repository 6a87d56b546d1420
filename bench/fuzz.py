"""Long fuzzing runs of the protocol and the board (`make fuzz`).

    python -m bench.fuzz [--seconds N] [--engine atheris|mutate] [--merge] [TARGET ...]

Each target (harness/fuzz_targets.py: decoder, payloads, board, host, update_image) runs in its own process for
N seconds (default CUNBOX_FUZZ_SECONDS or 300); target "api" runs the schemathesis API fuzzing
(tests/harness/test_harness_api_fuzz.py) with N examples per operation (at least 50). Engine atheris
(libFuzzer, coverage-guided over protocol/ and firmware/, which are instrumented at import) when it
is installed, else a plain
mutation fuzzer over the saved corpus. New inputs go to bench/fuzz_work/<target>/; --merge
minimises them into the saved corpus tests/fuzz_corpus/<target>/ (which pytest replays). A crash or
broken invariant is written to bench/fuzz_findings/ and the run exits 1.
"""
import argparse
import hashlib
import os
import pathlib
import random
import subprocess
import sys
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz_corpus"
WORK = ROOT / "bench" / "fuzz_work"
FINDINGS = ROOT / "bench" / "fuzz_findings"
TARGET_NAMES = ("decoder", "payloads", "board", "host", "update_image", "api")


def have_atheris():
    try:
        import atheris  # noqa: F401
        return True
    except ImportError:
        return False


# ---- worker: one target in this process -----------------------------------------------------------

def _atheris_worker(name, seconds, merge, passthrough=None):
    import atheris
    with atheris.instrument_imports(include=["protocol", "firmware"]):
        import firmware.app  # noqa: F401
        import firmware.proto_server  # noqa: F401
        import firmware.update_image  # noqa: F401
        import protocol.session  # noqa: F401
    from harness.fuzz_targets import TARGETS
    target = TARGETS[name]

    def one(data):
        target(data)

    work = WORK / name
    saved = CORPUS / name
    work.mkdir(parents=True, exist_ok=True)
    saved.mkdir(parents=True, exist_ok=True)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    # libFuzzer re-runs argv[0] for merges: give it a script that comes back here.
    runner = WORK / ("run-%s.sh" % name)
    runner.write_text("#!/bin/sh\ncd '%s' && exec '%s' -m bench.fuzz --worker %s --passthrough \"$@\"\n"
                      % (ROOT, sys.executable, name))
    runner.chmod(0o755)
    if passthrough is not None:
        args = [str(runner)] + passthrough
    elif merge:
        args = [str(runner), "-merge=1", str(saved), str(work)]
    else:
        args = [str(runner), str(work), str(saved), "-max_total_time=%d" % seconds, "-rss_limit_mb=1024",
                "-artifact_prefix=%s/%s-" % (FINDINGS, name), "-print_final_stats=1"]
    atheris.Setup(args, one)
    atheris.Fuzz()


def _mutate(rng, data, corpus):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        elif op == 2 and data:
            del data[rng.randrange(len(data))]
        elif op == 3 and data:
            data[rng.randrange(len(data))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        elif op == 4 and corpus:
            other = rng.choice(corpus)
            cut = rng.randrange(len(data) + 1)
            data = data[:cut] + other[rng.randrange(len(other) + 1):]
        elif op == 5:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(data[:4096])


def _mutate_worker(name, seconds, seed=None):
    """The fallback engine: random mutations of the corpus, no coverage feedback."""
    from harness.fuzz_targets import TARGETS
    target = TARGETS[name]
    rng = random.Random(seed)
    corpus = [p.read_bytes() for d in (CORPUS / name, WORK / name) if d.is_dir() for p in sorted(d.iterdir())]
    corpus = corpus or [b""]
    end = time.monotonic() + seconds
    runs = 0
    while time.monotonic() < end:
        data = _mutate(rng, rng.choice(corpus), corpus)
        runs += 1
        try:
            target(data)
        except Exception:
            save_finding(name, data)
            traceback.print_exc()
            return 1
        if runs % 200 == 0 and len(corpus) < 5000:
            corpus.append(data)
    print("mutate %s: %d runs in %d s, no findings" % (name, runs, seconds))
    return 0


def save_finding(name, data):
    FINDINGS.mkdir(parents=True, exist_ok=True)
    path = FINDINGS / ("%s-crash-%s" % (name, hashlib.sha1(data).hexdigest()))
    path.write_bytes(data)
    print("finding saved to", path)
    return path


def replay(name, path):
    """Run one saved input (a finding or a corpus file) through its target, for debugging."""
    from harness.fuzz_targets import TARGETS
    TARGETS[name](pathlib.Path(path).read_bytes())


# ---- driver -----------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.fuzz")
    p.add_argument("targets", nargs="*", default=[], help="any of %s (default: all)" % ", ".join(TARGET_NAMES))
    p.add_argument("--seconds", type=int, default=int(os.environ.get("CUNBOX_FUZZ_SECONDS", "300")))
    p.add_argument("--engine", choices=("atheris", "mutate"), default="atheris" if have_atheris() else "mutate")
    p.add_argument("--merge", action="store_true", help="minimise new inputs into tests/fuzz_corpus/")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--passthrough", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"))
    args, _rest = p.parse_known_args(argv)
    if args.replay:
        replay(*args.replay)
        print("no finding")
        return 0
    if args.worker:
        if args.passthrough:  # libFuzzer calling back (merge): every other argument is its own
            _atheris_worker(args.worker, 0, False, args.targets + _rest)
            return 0
        if args.engine == "atheris":
            _atheris_worker(args.worker, args.seconds, args.merge)
            return 0
        return _mutate_worker(args.worker, args.seconds)
    names = args.targets or list(TARGET_NAMES)
    if "api" in names:  # schemathesis, through its pytest module, with many more examples per operation
        names = [n for n in names if n != "api"] + ["api"]
    unknown = [n for n in names if n not in TARGET_NAMES]
    if unknown:
        p.error("unknown target(s) %s; choose from %s" % (", ".join(unknown), ", ".join(TARGET_NAMES)))
    failed = []
    for name in names:
        if name == "api":
            examples = max(50, args.seconds)
            print("== fuzz api: schemathesis, %d examples per operation" % examples, flush=True)
            env = dict(os.environ, CUNBOX_API_FUZZ_EXAMPLES=str(examples))
            rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "tests/harness/test_harness_api_fuzz.py"], cwd=ROOT, env=env)
            if rc != 0:
                failed.append(name)
            continue
        print("== fuzz %s: %s for %d s" % (name, args.engine, args.seconds), flush=True)
        cmd = [sys.executable, "-m", "bench.fuzz", "--worker", name, "--seconds", str(args.seconds),
               "--engine", args.engine]
        rc = subprocess.call(cmd, cwd=ROOT)
        if rc != 0:
            failed.append(name)
            continue
        if args.merge and args.engine == "atheris":
            subprocess.call(cmd + ["--merge"], cwd=ROOT)
    if failed:
        print("findings in: %s (see %s)" % (", ".join(failed), FINDINGS), file=sys.stderr)
        return 1
    print("fuzz: no findings in %s" % ", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
