"""Every kernel of the example configurations, compiled by kha-compile
--target=cuda --emit=ptx for sm_80 and sm_90a, is assembled by ptxas -v, with
no spills. Skipped (exit 77) where ptxas is absent.

usage: ptxas_examples.py TOOLS_DIR EXAMPLES_DIR
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHIPS = ["sm_80", "sm_90a"]


def find_ptxas():
    for candidate in [shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"]:
        if candidate and os.path.exists(candidate):
            return candidate
    for var in ("CUDA_HOME", "CUDA_ROOT", "CUDA_PATH"):
        if os.environ.get(var):
            path = os.path.join(os.environ[var], "bin", "ptxas")
            if os.path.exists(path):
                return path
    return None


def main():
    tools, examples = sys.argv[1], sys.argv[2]
    ptxas = find_ptxas()
    if not ptxas:
        print("SKIPPED: ptxas not found (PATH, /usr/local/cuda/bin, $CUDA_HOME)")
        return 77
    passed = failed = 0
    print("| config | chip | kernels | max registers | spills | ptxas |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for config in sorted(glob.glob(os.path.join(examples, "*.json"))):
            name = os.path.splitext(os.path.basename(config))[0]
            mlir = os.path.join(tmp, name + ".mlir")
            subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config", config,
                            "-o", mlir], check=True)
            for chip in CHIPS:
                ptx = os.path.join(tmp, "%s-%s.ptx" % (name, chip))
                # Without CUDA_HOME & co.: kha finds the toolkit's libdevice
                # itself (else the math functions stay unresolved).
                env = {k: v for k, v in os.environ.items()
                       if k not in ("CUDA_HOME", "CUDA_ROOT", "CUDA_PATH")}
                subprocess.run([os.path.join(tools, "kha-compile"), mlir, "--target=cuda",
                                "--cuda-chip=" + chip, "--emit=ptx", "-o", ptx], check=True,
                               env=env)
                run = subprocess.run([ptxas, "-arch=" + chip, "-v", ptx, "-o", ptx + ".cubin"],
                                     capture_output=True, text=True)
                report = run.stdout + run.stderr
                kernels = len(re.findall(r"Compiling entry function", report))
                spills = [int(a) + int(b) for a, b in re.findall(
                    r"(\d+) bytes spill stores, (\d+) bytes spill loads", report)]
                registers = [int(r) for r in re.findall(r"Used (\d+) registers", report)]
                target_ok = (".target %s" % chip) in open(ptx).read()
                ok = run.returncode == 0 and kernels > 0 and target_ok and not any(spills)
                passed += ok
                failed += not ok
                print("| %s | %s | %d | %d | %d | %s |" % (
                    name, chip, kernels, max(registers or [0]), sum(spills),
                    "ok" if ok else "FAIL" + ("" if run.returncode == 0 else ": " + report[-400:])))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
