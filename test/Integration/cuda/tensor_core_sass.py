"""The tensor-core kernels as the GPU assembles them: the four example layers
in f16 and in bf16, with their knocks folded into the weights (the default)
and not (--no-fold-knocks), compiled by kha-compile --target=cuda
--emit=ptx for sm_80 and sm_90a.

- no kernel falls back to the CUDA cores (kha-compile prints no remark): the
  attention, the projections, the folded weights and the MLP knock's matmuls
  all run on the tensor cores;

- PTX: every kernel with `mma.sync` also has `ldmatrix` and `cp.async`,
  every kernel with `wgmma.mma_async` also has `cp.async.bulk.tensor` (TMA)
  and mbarriers, and each layer has at least 1 + 4 tensor-core kernels (its
  attention and its four projections); for sm_90a at least five of them
  are wgmma kernels (the attention, head dim 64 or 128, and the
  projections);
- PTX: no kernel divides 64-bit integers (constants and index computations
  are sunk into the kernels, tensor-core kernels compute 32-bit indices
  where range analysis allows);
- ptxas -v: every kernel assembles with no spills;
- SASS (cuobjdump -sass, from build/cuda-tools or $KHA_CUOBJDUMP; fetched by
  scripts/setup.sh): each mma.sync kernel has HMMA, LDSM and LDGSTS, each
  wgmma kernel HGMMA and UTMALDG, and none uses local memory (LDL/STL);
  ptxas reports no serialised wgmma; on sm_90a the attention is warp-specialised
  (PTX setmaxnreg, which ptxas does not ignore: USETMAXREG in the SASS). SIMT kernels that use local memory are listed (the
  f64 RoPE tables: libdevice's sin/cos reduce large arguments on the stack).

Prints a table per kernel (registers, shared memory, instruction counts).
Skipped (exit 77) where ptxas or cuobjdump is absent.

usage: tensor_core_sass.py TOOLS_DIR EXAMPLES_DIR BUILD_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptxas_examples import CHIPS, find_cuobjdump, find_ptxas  # noqa: E402

EXAMPLES = ["mha-small", "mqa", "dense-1.68B", "paper-main"]


def ptx_kernels(ptx):
    """{kernel name: PTX body}."""
    parts = re.split(r"\.visible \.entry (\w+)\(", ptx)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def sass_counts(sass):
    """{kernel name: {mnemonic class: count}}."""
    out, kernel = {}, None
    for line in sass.splitlines():
        m = re.search(r"Function : (\w+)", line)
        if m:
            kernel = m.group(1)
            out[kernel] = {"HMMA": 0, "LDSM": 0, "LDGSTS": 0, "HGMMA": 0, "UTMALDG": 0,
                           "USETMAXREG": 0, "LDL/STL": 0}
            continue
        m = re.search(r"/\*[0-9a-f]{4}\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9]+)", line)
        if kernel and m:
            op = m.group(1)
            if op in ("HMMA", "LDSM", "LDGSTS", "HGMMA", "UTMALDG", "USETMAXREG"):
                out[kernel][op] += 1
            elif op in ("LDL", "STL"):
                out[kernel]["LDL/STL"] += 1
    return out


def main():
    tools, examples, build = sys.argv[1:4]
    ptxas, cuobjdump = find_ptxas(), find_cuobjdump(build)
    if not ptxas or not cuobjdump:
        print("SKIPPED: %s not found (scripts/setup.sh fetches cuobjdump into build/cuda-tools)"
              % ("ptxas" if not ptxas else "cuobjdump"))
        return 77
    env = dict(os.environ, PATH=os.path.dirname(cuobjdump) + os.pathsep + os.environ["PATH"])
    passed = failed = 0
    print("| layer | chip | kernel | registers | smem | spills | mma.sync/wgmma | HMMA | HGMMA | LDSM | LDGSTS | UTMALDG | LDL/STL |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for example in EXAMPLES:
            for dtype in ("f16", "bf16"):
                with open(os.path.join(examples, example + ".json")) as f:
                    config = json.load(f)
                config["dtype"] = dtype
                name = "%s-%s" % (example, dtype)
                path = os.path.join(tmp, name + ".json")
                with open(path, "w") as f:
                    json.dump(config, f)
                mlir = os.path.join(tmp, name + ".mlir")
                subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config",
                                path, "-o", mlir], check=True)
                for chip, fold in [(c, f) for c in CHIPS for f in ("", "--no-fold-knocks")]:
                    problems = []
                    variant = "%s-%s%s" % (name, chip, fold)
                    ptx_path = os.path.join(tmp, variant + ".ptx")
                    compiled = subprocess.run(
                        [os.path.join(tools, "kha-compile"), mlir, "--target=cuda",
                         "--cuda-chip=" + chip, "--emit=ptx", "-o", ptx_path]
                        + ([fold] if fold else []), capture_output=True, text=True)
                    for remark in re.findall(r"remark: (.*)", compiled.stderr):
                        problems.append("unexpected fallback: " + remark)
                    if compiled.returncode != 0:
                        problems.append("kha-compile: " + compiled.stderr[-400:])
                        kernels = {}
                    else:
                        kernels = ptx_kernels(open(ptx_path).read())
                    cubin = ptx_path + ".cubin"
                    report = ""
                    if kernels:
                        run = subprocess.run([ptxas, "-arch=" + chip, "-v", ptx_path, "-o", cubin],
                                             capture_output=True, text=True)
                        report = run.stdout + run.stderr
                        if run.returncode != 0:
                            problems.append("ptxas: " + report[-400:])
                    info = {}  # kernel: (spill bytes, registers, shared memory)
                    for entry in report.split("Compiling entry function")[1:]:
                        name_m = re.match(r" '(\w+)'", entry)
                        spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads",
                                          entry)
                        regs = re.search(r"Used (\d+) registers", entry)
                        smem = re.search(r"(\d+) bytes smem", entry)
                        if name_m and spill and regs:
                            info[name_m.group(1)] = (int(spill.group(1)) + int(spill.group(2)),
                                                     int(regs.group(1)),
                                                     int(smem.group(1)) if smem else 0)
                    sass = {}
                    if os.path.exists(cubin):
                        sass = sass_counts(subprocess.run(
                            [cuobjdump, "-sass", cubin], capture_output=True, text=True,
                            env=env, check=True).stdout)
                    notes = []
                    tensor_core = [k for k, body in kernels.items()
                                   if "mma.sync" in body or "wgmma.mma_async" in body]
                    hopper = [k for k, body in kernels.items() if "wgmma.mma_async" in body]
                    if kernels and len(tensor_core) < 5:
                        problems.append("%d tensor-core kernels, expected at least 5"
                                        % len(tensor_core))
                    if kernels and chip == "sm_90a" and len(hopper) < 5:
                        problems.append("%d wgmma kernels, expected at least 5 (the "
                                        "attention and the projections)" % len(hopper))
                    if "serializ" in report.lower():
                        problems.append("ptxas serialises a wgmma")
                    # Warp specialisation: the attention (head dims 64 and 128
                    # here) has a producer warpgroup whose registers go to the
                    # consumers, which ptxas honours.
                    specialised = [k for k, body in kernels.items() if "setmaxnreg" in body]
                    if kernels and chip == "sm_90a" and not specialised:
                        problems.append("no warp-specialised kernel (setmaxnreg)")
                    if "setmaxnreg' ignored" in report:
                        problems.append("ptxas ignores setmaxnreg")
                    for kernel, body in sorted(kernels.items()):
                        spills, registers, smem = info.get(kernel, (-1, 0, 0))
                        counts = sass.get(kernel, {})
                        mma = body.count("mma.sync")
                        wgmma = body.count("wgmma.mma_async")
                        if spills != 0:
                            problems.append("%s spills (%d bytes)" % (kernel, spills))
                        if kernel not in sass:
                            problems.append("%s: no SASS" % kernel)
                        elif counts["LDL/STL"] and (mma or wgmma):
                            problems.append("%s: local memory" % kernel)
                        elif counts["LDL/STL"]:
                            notes.append("%s (%d LDL/STL)" % (kernel, counts["LDL/STL"]))
                        if re.search(r"\b(div|rem)\.[su]64\b", body):
                            problems.append("%s: 64-bit integer division (constants not "
                                            "sunk into the kernel?)" % kernel)
                        if mma and not ("ldmatrix" in body and "cp.async" in body):
                            problems.append("%s: mma.sync without ldmatrix/cp.async" % kernel)
                        if mma and not all(counts.get(op) for op in ("HMMA", "LDSM", "LDGSTS")):
                            problems.append("%s: no HMMA/LDSM/LDGSTS in the SASS" % kernel)
                        if wgmma and not ("cp.async.bulk.tensor" in body and "mbarrier" in body):
                            problems.append("%s: wgmma without TMA/mbarriers" % kernel)
                        if wgmma and not all(counts.get(op) for op in ("HGMMA", "UTMALDG")):
                            problems.append("%s: no HGMMA/UTMALDG in the SASS" % kernel)
                        if kernel in specialised and counts.get("USETMAXREG", 0) < 2:
                            problems.append("%s: setmaxnreg missing from the SASS" % kernel)
                        if mma or wgmma:
                            print("| %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |" % (
                                name + (" unfolded" if fold else ""), chip, kernel, registers, smem, spills,
                                mma + wgmma, counts.get("HMMA", 0), counts.get("HGMMA", 0),
                                counts.get("LDSM", 0), counts.get("LDGSTS", 0),
                                counts.get("UTMALDG", 0), counts.get("LDL/STL", 0)))
                    ok = not problems
                    passed += ok
                    failed += not ok
                    print("%s %s%s: %d kernels, %d on tensor cores%s: %s" % (
                        name, chip, " " + fold if fold else "", len(kernels), len(tensor_core),
                        "; local memory in SIMT kernels: " + ", ".join(notes) if notes else "",
                        "ok" if ok else "FAIL: " + "; ".join(problems)), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
