"""Every kernel of the example configurations, compiled by kha-compile
--target=cuda --emit=ptx for sm_80 and sm_90a, is assembled by ptxas -v, with
no spills in tensor-core kernels and no spill traffic inside a loop anywhere:
a CUDA-core kernel may keep a value or two in local memory across its main
loop (ptxas does so for the SIMT matmul on sm_80: one store before the loop,
one load after it), which the SASS (cuobjdump -sass, see find_cuobjdump)
shows outside every loop. Skipped (exit 77) where ptxas is absent.

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


def find_cuobjdump(build):
    """cuobjdump from $KHA_CUOBJDUMP, build/cuda-tools (scripts/setup.sh
    fetches it there) or PATH; None when absent."""
    for candidate in [os.environ.get("KHA_CUOBJDUMP"),
                      os.path.join(build, "cuda-tools", "nvidia", "cu13", "bin", "cuobjdump"),
                      shutil.which("cuobjdump")]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def spills_in_loops(cuobjdump, cubin, kernel):
    """The local-memory accesses (STL/LDL) of `kernel` inside a loop of its
    SASS: between a backward branch and its target."""
    env = dict(os.environ, PATH=os.path.dirname(cuobjdump) + os.pathsep + os.environ["PATH"])
    sass = subprocess.run([cuobjdump, "-sass", "-fun", kernel, cubin], capture_output=True,
                          text=True, env=env, check=True).stdout
    loops, local = [], []
    for line in sass.splitlines():
        m = re.search(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9.]+)\s*([^;]*)", line)
        if not m:
            continue
        address, op, operands = int(m.group(1), 16), m.group(2), m.group(3)
        target = re.match(r"`?\(?\.?L?_?x?(0x[0-9a-f]+)", operands.strip())
        if op.startswith("BRA") and target and int(target.group(1), 16) <= address:
            loops.append((int(target.group(1), 16), address))
        if op.split(".")[0] in ("STL", "LDL"):
            local.append(address)
    return [a for a in local if any(lo <= a <= hi for lo, hi in loops)]


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
    cuobjdump = find_cuobjdump(os.path.dirname(os.path.abspath(tools)))
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
                text = open(ptx).read()
                target_ok = (".target %s" % chip) in text
                bodies = dict(zip(re.findall(r"\.visible \.entry (\w+)\(", text),
                                  re.split(r"\.visible \.entry \w+\(", text)[1:]))
                bad_spills = []
                for entry in report.split("Compiling entry function")[1:]:
                    kernel = re.match(r" '(\w+)'", entry).group(1)
                    spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads",
                                      entry)
                    if not spill or spill.group(1) == spill.group(2) == "0":
                        continue
                    if "mma.sync" in bodies.get(kernel, "") or not cuobjdump:
                        bad_spills.append(kernel)
                    elif spills_in_loops(cuobjdump, ptx + ".cubin", kernel):
                        bad_spills.append(kernel + " (in a loop)")
                ok = run.returncode == 0 and kernels > 0 and target_ok and not bad_spills
                passed += ok
                failed += not ok
                print("| %s | %s | %d | %d | %d | %s |" % (
                    name, chip, kernels, max(registers or [0]), sum(spills),
                    "ok" if ok else "FAIL" + ("" if run.returncode == 0 else ": " + report[-400:])
                    + (": spills in " + ", ".join(bad_spills) if bad_spills else "")))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
