"""kha's linalg through IREE: the route for IREE users, tested.

kha's expanded layer (kha-opt --kha-expand-attention-block --kha-fold-knock
--kha-lower-to-linalg: linalg, tensor, arith and math on tensors, dynamic B
and L) and a raised attention (generic linalg attention, kha-raise-attention,
then the same lowering) are compiled by IREE's compiler for its llvm-cpu
backend and run by IREE's runtime, from Python (the iree-base-compiler and
iree-base-runtime packages); the results must match the float64 reference
at the contract's f32 tolerance.

usage: iree_interop.py TOOLS_DIR IREE_PYTHON_DIR
(IREE_PYTHON_DIR: where scripts/setup.sh unpacked the IREE wheels.)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "cpu"))

import numpy as np  # noqa: E402

TOLERANCE = 1e-4  # f32
LOWER = ["--kha-expand-attention-block", "--kha-fold-knock", "--kha-lower-to-linalg",
         "--canonicalize", "--cse"]


def kha_opt(tools, source, flags):
    proc = subprocess.run([os.path.join(tools, "kha-opt"), "-", *flags], input=source,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("kha-opt %s failed: %s" % (" ".join(flags), proc.stderr[-500:]))
    return proc.stdout


def iree_run(source, function, inputs):
    """Compiles `source` for llvm-cpu and calls `function` on `inputs`."""
    import iree.compiler as compiler
    import iree.runtime as runtime
    vmfb = compiler.compile_str(source, target_backends=["llvm-cpu"],
                                extra_args=["--iree-llvmcpu-target-cpu=host"])
    config = runtime.Config("local-task")
    module = runtime.load_vm_flatbuffer(vmfb, driver="local-task")
    del config
    return np.asarray(module[function](*inputs)).astype(np.float64)


def main():
    tools, iree_dir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, iree_dir)
    # The wheel's iree-compile, which compile_str runs.
    os.environ["IREE_TOOL_PATH"] = os.path.join(iree_dir, "iree", "compiler", "_mlir_libs")
    try:
        import iree.compiler  # noqa: F401
        import iree.runtime  # noqa: F401
        import iree.compiler.version as version
        versions = "iree-base-compiler %s" % version.VERSION
    except ImportError as e:
        print("IREE's Python packages are not in %s (%s): run scripts/setup.sh" % (iree_dir, e))
        print("0 passed, 1 failed")
        return 1
    except AttributeError:
        versions = "IREE (version unknown)"
    import torch
    from kha.config import LayerConfig
    from kha.inputs import make_inputs
    from kha.reference import kha_layer, relative_error
    from raise_attention import (gqa_padding, generic_bhld, reference_gqa_padding,
                                 reference_generic_bhld)

    print("with %s" % versions)
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="kha-iree-")

    def report(name, err):
        nonlocal passed, failed
        ok = err is not None and err < TOLERANCE
        passed += ok
        failed += not ok
        print("%s: %s: %s" % (name, "error %.2g" % err if err is not None else "no result",
                              "ok" if ok else "FAIL"))

    # Example layers, expanded and lowered by kha, at awkward sizes.
    for example, B, L in (("mqa", 2, 37), ("mha-small", 1, 1), ("paper-main", 1, 20)):
        # Dynamic B and L, whatever the example fixes.
        with open(os.path.join(ROOT, "examples", example + ".json")) as f:
            config = json.load(f)
        config.update(batch=None, seq_len=None)
        path = os.path.join(tmp, example + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        cfg = LayerConfig.load(path)
        imported = subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config",
                                   path], capture_output=True, text=True, check=True).stdout
        try:
            linalg = kha_opt(tools, imported, LOWER)
            # Only the weights' argument marker may remain (which IREE ignores).
            if "kha." in linalg.replace("kha.weight", ""):
                raise RuntimeError("kha ops left after lowering")
            inputs = [a for _, a in make_inputs(cfg, B, L, seed=3)]
            y = iree_run(linalg, "kha_layer", inputs)
            ref = kha_layer(cfg, inputs).numpy()
            report("%s, B=%d L=%d, kha's linalg on IREE llvm-cpu" % (example, B, L),
                   relative_error(y, ref))
        except Exception as e:  # report, count, go on
            print("%s: %s" % (example, str(e)[-600:]))
            report("%s, B=%d L=%d, kha's linalg on IREE llvm-cpu" % (example, B, L), None)

    # Attention as another frontend writes it, raised by kha, lowered, on IREE.
    rng = np.random.default_rng(7)
    u = lambda *s: rng.uniform(-1, 1, s).astype(np.float32)
    raised_cases = []
    q, k, v = u(2, 4, 13, 16), u(2, 4, 29, 16), u(2, 4, 29, 16)
    raised_cases.append(("generic [B, H, L, d], causal", generic_bhld(2, 4, 13, 29, 16),
                         [q, k, v], reference_generic_bhld(q, k, v)))
    q, k, v = u(2, 9, 4, 16), u(2, 11, 2, 16), u(2, 11, 2, 16)
    pad = np.zeros((2, 11), np.float32)
    pad[1, 7:] = -np.inf
    raised_cases.append(("GQA with a padding mask", gqa_padding(4, 2, 16), [q, k, v, pad],
                         reference_gqa_padding(q, k, v, pad)))
    for name, source, inputs, ref in raised_cases:
        try:
            raised = kha_opt(tools, source, ["--kha-raise-attention"])
            if "kha.sdpa" not in raised:
                raise RuntimeError("not raised")
            linalg = kha_opt(tools, raised, LOWER)
            y = iree_run(linalg, "attn", inputs)
            report("%s, raised by kha, on IREE llvm-cpu" % name, relative_error(y, ref))
        except Exception as e:  # report, count, go on
            print("%s: %s" % (name, str(e)[-600:]))
            report("%s, raised by kha, on IREE llvm-cpu" % name, None)
    del torch
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
