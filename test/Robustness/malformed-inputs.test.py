"""Feeds malformed inputs to kha-opt and kha-translate and checks that each one
ends with an error message and exit status 1: never a signal, a hang or success.

Usage: check_malformed.py KHA_OPT KHA_TRANSLATE INPUTS_DIR SEED_FILE...

Two sets of inputs:
- the hand-written corpus in INPUTS_DIR (*.mlir for kha-opt, *.json for
  kha-translate --import-layer-config), each of which is invalid;
- mutations of valid SEED_FILEs (truncations and byte flips, seeded), which may
  happen to stay valid: those must exit 0 or 1, with an error message when 1.
"""

import os
import random
import subprocess
import sys
import tempfile

TIMEOUT_S = 60


def run(cmd, path):
    try:
        proc = subprocess.run(cmd + [path], capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, b"timeout"
    return proc.returncode, proc.stderr


def command_for(tools, path):
    kha_opt, kha_translate = tools
    if path.endswith(".json"):
        return [kha_translate, "--import-layer-config", "-o", os.devnull]
    # Running the passes too: malformed IR must stop at the parser/verifier.
    return [kha_opt, "--kha-expand-attention-block", "--kha-simplify-knocks",
            "-o", os.devnull]


def describe(rc, err):
    if rc is None:
        return "hung (timeout)"
    if rc < 0:
        return "killed by signal %d" % -rc
    return "exit %d, stderr: %r" % (rc, err[:200])


def main():
    kha_opt, kha_translate, inputs, *seeds = sys.argv[1:]
    tools = (kha_opt, kha_translate)
    failures, checked = [], 0

    for name in sorted(os.listdir(inputs)):
        path = os.path.join(inputs, name)
        rc, err = run(command_for(tools, path), path)
        checked += 1
        if rc != 1 or b"error" not in err:
            failures.append("%s: expected exit 1 with an error, got %s" % (name, describe(rc, err)))

    rng = random.Random(2510_23052)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            data = open(seed, "rb").read()
            ext = os.path.splitext(seed)[1]
            mutants = [data[: rng.randrange(len(data))] for _ in range(12)]
            for _ in range(12):
                b = bytearray(data)
                for _ in range(rng.randint(1, 4)):
                    b[rng.randrange(len(b))] = rng.choice(b"{}[]()<>,:%\"0-9x\x00\xff")
                mutants.append(bytes(b))
            for i, mutant in enumerate(mutants):
                path = os.path.join(tmp, "mutant%d%s" % (i, ext))
                open(path, "wb").write(mutant)
                rc, err = run(command_for(tools, path), path)
                checked += 1
                if rc not in (0, 1) or (rc == 1 and b"error" not in err):
                    failures.append("mutant %d of %s: %s" % (i, seed, describe(rc, err)))

    for failure in failures:
        print("FAIL:", failure)
    print("%d inputs checked, %d failed" % (checked, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
