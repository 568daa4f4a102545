"""Every kernel of the example configurations, compiled by kha-compile
--target=cuda --emit=ptx for sm_80 and sm_90a, is assembled by ptxas -v, with
no spills. Skipped (exit 77) where ptxas is absent.

usage: ptxas_examples.py TOOLS_DIR EXAMPLES_DIR
       ptxas_examples.py TOOLS_DIR --numerics   the 36 configurations of the
           random numerics suite (awkward sizes, dynamic dims, f16/bf16), sm_90a
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


def configs(source, tmp):
    """(name, config path, chips) to check."""
    if source != "--numerics":
        return [(os.path.splitext(os.path.basename(p))[0], p, CHIPS)
                for p in sorted(glob.glob(os.path.join(source, "*.json")))]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "cpu"))
    import json
    from numerics import cases
    out = []
    for n, (config, _, _) in enumerate(cases()):
        path = os.path.join(tmp, "case-%02d.json" % n)
        with open(path, "w") as f:
            json.dump(config, f)
        out.append(("case-%02d" % n, path, ["sm_90a"]))
    return out


def main():
    tools, source = sys.argv[1], sys.argv[2]
    ptxas = find_ptxas()
    if not ptxas:
        print("SKIPPED: ptxas not found (PATH, /usr/local/cuda/bin, $CUDA_HOME)")
        return 77
    passed = failed = 0
    print("| config | chip | kernels | max registers | spills | ptxas |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, config, chips in configs(source, tmp):
            mlir = os.path.join(tmp, name + ".mlir")
            subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config", config,
                            "-o", mlir], check=True)
            for chip in chips:
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
