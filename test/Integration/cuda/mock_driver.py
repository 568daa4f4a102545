"""kha's CUDA runtime and the host code of CUDA libraries, driven through a
mock libcuda.so.1 (MockCUDADriver.c): host memory as device memory, kernels
checked (launch shapes, a readable parameter for every .param of their PTX)
but not run. Without a GPU this checks everything around the kernels:

  - kha-run --device=cuda and kha.Library load the module once (lazily), look
    up kernels that exist, launch every kernel with a valid shape, keep every
    copy inside its allocation, and free every allocation (none live at
    exit), over several calls, with static and dynamic sizes;
  - a failing driver call (injected) is reported naming the call and the
    driver's error, the tools exit 1, and nothing runs after it;
  - the paper-main layer in bf16 at L = 2048 and 4096: its peak device memory
    is reported and grows linearly with L (no L x S buffer);
  - a decoding step with a long cache launches its attention over many blocks
    (the keys split across them) and frees its partial results.

The outputs are not checked: the kernels do not run (the GPU check and
--cuda-on-host cover the numbers).

usage: mock_driver.py TOOLS_DIR MOCK_DRIVER_DIR CONFIG_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
sys.path.insert(0, os.path.join(HERE, ".."))
from checks import expect, report  # noqa: E402

SMALL_DYNAMIC = {  # GQA, H*d != D, dynamic B and L, MLP knock on V
    "hidden_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
    "knock": {"q": "linear", "k": "none", "v": "mlp"}, "qk_norm": True,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "causal": True,
    "batch": None, "seq_len": None, "dtype": "f16",
}

def summary(log):
    text = open(log).read() if os.path.exists(log) else ""
    match = re.search(r"summary: (.*)", text)
    counts = dict(kv.split("=") for kv in match.group(1).split()) if match else {}
    return {k: int(v) for k, v in counts.items()}, text


def run(cmd, env, log):
    if os.path.exists(log):
        os.remove(log)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    counts, text = summary(log)
    return proc, counts, text


def compile_cuda(tools, config, tmp, name):
    """kha-translate + kha-compile --target=cuda of the layer config
    `config` into TMP/NAME.so: its path, or None where no CUDA toolkit is
    found (kernels link its libdevice)."""
    mlir = os.path.join(tmp, name + ".mlir")
    subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config",
                    config, "-o", mlir], check=True)
    lib = os.path.join(tmp, name + ".so")
    proc = subprocess.run([os.path.join(tools, "kha-compile"), mlir, "--target=cuda",
                           "-o", lib], capture_output=True, text=True)
    if "CUDA toolkit was not found" in proc.stderr:
        return None
    if proc.returncode:
        sys.exit(proc.stderr)
    return lib


def main():
    tools, mock_dir, config_dir = sys.argv[1:4]
    kha_run = os.path.join(tools, "kha-run")
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "mock.log")
        env = dict(os.environ, KHA_MOCK_CUDA_LOG=log,
                   LD_LIBRARY_PATH=os.pathsep.join(
                       p for p in (mock_dir, os.environ.get("LD_LIBRARY_PATH")) if p),
                   PYTHONPATH=os.path.join(HERE, "..", "..", "..", "python"))
        env.pop("KHA_MOCK_CUDA_FAIL", None)
        small = os.path.join(tmp, "small.json")
        with open(small, "w") as f:
            json.dump(SMALL_DYNAMIC, f)
        libs = {}
        for name, config in (("mha-small", os.path.join(config_dir, "mha-small.json")),
                             ("small-dynamic", small)):
            libs[name] = compile_cuda(tools, config, tmp, name)
            if libs[name] is None:
                print("skipped: no CUDA toolkit to compile kernels with")
                return 77

        # kha-run: 1 warm-up + 3 timed calls on one set of device inputs,
        # then 1 + 7: the difference is 4 calls' kernels; what is left of the
        # first run, the weight preparation's, launched once.
        from kha.config import LayerConfig
        for name, batch, seq_len in (("mha-small", 1, 512), ("small-dynamic", 3, 13)):
            config = LayerConfig.load(os.path.join(config_dir, "mha-small.json")
                                      if name == "mha-small" else small)
            shapes = config.argument_shapes(batch, seq_len)
            dtype = config.dtype
            inputs = ["--input=%sx%s=random:%d" % ("x".join(map(str, shape)), dtype, i)
                      for i, (_, shape) in enumerate(shapes)]
            out = os.path.join(tmp, "y.npy")
            proc, counts, text = run([kha_run, libs[name], "--device=cuda", *inputs,
                                      "--output=@" + out, "--benchmark=3"], env, log)
            proc8, counts8, _ = run([kha_run, libs[name], "--device=cuda", *inputs,
                                     "--benchmark=7"], env, log)
            kernels = (counts8.get("launches", 0) - counts.get("launches", 0)) // 4
            once = counts.get("launches", 0) - 4 * kernels
            expect(proc.returncode == 0 and proc8.returncode == 0
                   and counts.get("violations", 1) == 0 and counts8.get("violations", 1) == 0
                   and counts.get("loads") == 1 and kernels > 0 and once >= 0
                   and counts8.get("launches") == once + 8 * kernels
                   and counts.get("allocs", 0) > 0 and counts.get("live") == 0
                   and counts8.get("live") == 0
                   and np.load(out).shape == (batch, seq_len, config.hidden_size),
                   "kha-run --device=cuda %s B=%d L=%d, 4 and 8 calls: one module load, %d "
                   "kernels per call and %d once (the weight preparation), every allocation "
                   "freed, no violations (%s)%s" % (
                       name, batch, seq_len, kernels, once, counts,
                       "" if proc.returncode == 0 else ": " + proc.stderr.strip()))
            if re.search(r"^violation:", text, re.M):
                print(text)

        # Device memory of the paper-main layer in bf16 (dynamic L, B = 1) at
        # L = 2048 and 4096: reported, and linear in L (the L x S scores of
        # the fused attention never reach memory).
        paper = json.load(open(os.path.join(config_dir, "paper-main.json")))
        paper.update(dtype="bf16", batch=1, seq_len=None)
        paper_json = os.path.join(tmp, "paper-main-bf16.json")
        with open(paper_json, "w") as f:
            json.dump(paper, f)
        paper_lib = compile_cuda(tools, paper_json, tmp, "paper-main-bf16")
        config = LayerConfig.load(paper_json)
        memory = {}
        for seq_len in (2048, 4096):
            inputs = ["--input=%sxbf16=random:%d" % ("x".join(map(str, shape)), i)
                      for i, (_, shape) in enumerate(config.argument_shapes(1, seq_len))]
            proc, counts, text = run([kha_run, paper_lib, "--device=cuda", *inputs,
                                      "--output=@" + os.path.join(tmp, "y.npy")], env, log)
            memory[seq_len] = (counts.get("peak_bytes", 0), counts.get("largest", 0),
                               proc.returncode == 0 and counts.get("violations", 1) == 0
                               and counts.get("live") == 0)
        (peak2, big2, ok2), (peak4, big4, ok4) = memory[2048], memory[4096]
        mib = lambda b: b / 2.0 ** 20
        expect(ok2 and ok4 and peak2 > 0 and peak4 <= 2.05 * peak2 and big4 <= 2.05 * big2,
               "paper-main bf16, B=1: peak device memory %.1f MiB at L=2048, %.1f MiB at "
               "L=4096 (x%.2f), largest buffer %.1f -> %.1f MiB: linear in L, no L x S buffer"
               % (mib(peak2), mib(peak4), peak4 / max(peak2, 1), mib(big2), mib(big4)))

        # Decoding with a cache (examples/decode-gqa: B = 1, L = 1, G = 4, H =
        # 16, 4096 rows): the caches are device buffers updated in place, the
        # length a host value; the attention splits the 3585 used keys into
        # min(ceil(512 / 4), ceil(3585 / 64)) = 57 ranges: 57 x 4 x 1 blocks
        # instead of 1 x 4 x 1, and a combining kernel of (1, 16, 1) blocks
        # of 128 threads (one per output column). Every allocation (the
        # partial results too) is freed.
        decode = os.path.join(config_dir, "decode-gqa.json")
        decode_lib = compile_cuda(tools, decode, tmp, "decode")
        config = LayerConfig.load(decode)
        inputs = ["--input=3584" if name == "cache_length" else
                  "--input=%sxf32=random:%d" % ("x".join(map(str, shape)), i)
                  for i, (name, shape) in enumerate(config.argument_shapes(1, 1))]
        proc, counts, text = run([kha_run, decode_lib, "--device=cuda", *inputs],
                                 dict(env, KHA_MOCK_CUDA_TRACE="1"), log)
        grids = re.findall(r"^launch \S+ grid (\d+) (\d+) (\d+) block (\d+) (\d+) (\d+)$",
                           text, re.M)
        grids = [tuple(map(int, g)) for g in grids]
        split = (57, 4, 1, 128, 1, 1) in grids
        combine = (1, 16, 1, 128, 1, 1) in grids
        expect(proc.returncode == 0 and counts.get("violations", 1) == 0
               and counts.get("live") == 0 and split and combine,
               "decode-gqa, one token after 3584: the attention launches 57 x 4 x 1 blocks "
               "(%s), the combine 1 x 16 x 1 (%s); %d kernels, every allocation freed (%s)%s"
               % (split, combine, len(grids), counts,
                  "" if proc.returncode == 0 else ": " + proc.stderr.strip()))

        # kha.Library: numpy in and out through the library's runtime.
        script = ("import numpy as np, kha\n"
                  "from kha.config import LayerConfig\n"
                  "from kha.inputs import make_inputs\n"
                  "cfg = LayerConfig.load(%r)\n"
                  "xs = [a for _, a in make_inputs(cfg, 2, 9, 0)]\n"
                  "lib = kha.Library(%r)\n"
                  "for _ in range(2):\n"
                  "    y = lib.kha_layer(*xs)\n"
                  "assert y.shape == (2, 9, cfg.hidden_size), y.shape\n"
                  "print(y.dtype)\n" % (small, libs["small-dynamic"]))
        proc, counts, text = run([sys.executable, "-c", script], env, log)
        expect(proc.returncode == 0 and counts.get("violations", 1) == 0
               and counts.get("loads") == 1 and counts.get("live") == 0
               and counts.get("launches", 0) > 0,
               "kha.Library on the cuda library, 2 calls: %s%s" % (
                   counts, "" if proc.returncode == 0 else ": " + proc.stderr.strip()))

        # Negative control: the mock sees a copy past the end of an allocation
        # (made here through the library's mgpu* entry points).
        script = ("import ctypes\n"
                  "lib = ctypes.CDLL(%r)\n"
                  "lib.mgpuMemAlloc.restype = ctypes.c_void_p\n"
                  "lib.mgpuMemAlloc.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_bool]\n"
                  "lib.mgpuMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]\n"
                  "lib.kha_cuda_last_error.restype = ctypes.c_char_p\n"
                  "d = lib.mgpuMemAlloc(16, None, False)\n"
                  "host = ctypes.create_string_buffer(64)\n"
                  "lib.mgpuMemcpy(d, host, 32, None)\n"
                  "print(lib.kha_cuda_last_error().decode())\n" % libs["small-dynamic"])
        proc, counts, text = run([sys.executable, "-c", script], env, log)
        expect(counts.get("violations") == 1 and "runs past the end of an allocation" in text
               and "cuMemcpyAsync failed: CUDA_ERROR_INVALID_VALUE" in proc.stdout,
               "negative control: a 32-byte copy into a 16-byte allocation is caught: %r" % (
                   proc.stdout.strip()))

        # Injected failures: a message naming the call, exit 1, nothing after.
        shapes = LayerConfig.load(small).argument_shapes(1, 4)
        inputs = ["--input=%sxf16=random:%d" % ("x".join(map(str, s)), i)
                  for i, (_, s) in enumerate(shapes)]
        for call, code, message in (
                ("cuInit", 100, "cannot use the GPU: cuInit failed: CUDA_ERROR_NO_DEVICE (100)"),
                ("cuMemAlloc", 2, "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (2)"),
                ("cuModuleLoadData", 218, "cuModuleLoadData failed: CUDA_ERROR_INVALID_PTX (218)"),
                ("cuModuleGetFunction", 500, "cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND (500)"),
                ("cuLaunchKernel", 1, "cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE (1)")):
            proc, counts, _ = run([kha_run, libs["small-dynamic"], "--device=cuda", *inputs],
                                  dict(env, KHA_MOCK_CUDA_FAIL="%s:%d" % (call, code)), log)
            expect(proc.returncode == 1 and message in proc.stderr
                   and counts.get("launches", 1) == 0,
                   "%s fails with %d: exit %d, %r, no launch after it" % (
                       call, code, proc.returncode, proc.stderr.strip().splitlines()[-1:]))
    return report()


if __name__ == "__main__":
    sys.exit(main())
