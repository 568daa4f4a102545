"""`pip install .` into a fresh virtual environment, then the user guide's
example run by that environment's Python, outside the source tree and
without PYTHONPATH: `import kha` must come from the environment and find its
own libKHACAPI.so.

The environment sees Debian's numpy and torch (--system-site-packages); the
install needs nothing from the package index (--no-index): the build backend
is in the tree and builds the C API in the existing build directory.

usage: pip_package.py SOURCE_DIR BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile

EXAMPLE = r'''
import os, sys
import numpy as np
import torch
import kha
from kha.torch import KHAAttention, export

assert "site-packages" in kha.__file__, kha.__file__
from kha import _capi
assert _capi.library_path().startswith(os.path.dirname(kha.__file__)), _capi.library_path()
print("kha", kha.__version__, "from", os.path.dirname(kha.__file__))

torch.manual_seed(0)
layer = KHAAttention(hidden_size=128, num_heads=4, num_kv_heads=2,
                     knock_q="linear", knock_k="linear", knock_v="mlp",
                     qk_norm=True, rope_theta=10000.0, causal=True)
lib = kha.compile(export(layer, embed_weights=True), "layer.so")
x = torch.randn(2, 37, 128)
y = lib.kha_layer(x.numpy())
with torch.no_grad():
    ref = layer(x).numpy()
err = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
print("compiled layer vs the PyTorch module: error %.2g" % err)
sys.exit(0 if err < 1e-4 else 1)
'''


def main():
    source, build = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="kha-pip-") as tmp:
        venv = os.path.join(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
        python = os.path.join(venv, "bin", "python")
        env = dict(os.environ, KHA_BUILD_DIR=build)
        env.pop("PYTHONPATH", None)
        env.pop("KHA_CAPI_LIBRARY", None)
        installed = subprocess.run([python, "-m", "pip", "install", "--no-index", "-q", source],
                                   env=env, capture_output=True, text=True)
        print(installed.stdout[-2000:] + installed.stderr[-2000:])
        if installed.returncode != 0:
            print("pip install . failed (exit %d)" % installed.returncode)
            print("0 passed, 1 failed")
            return 1
        work = os.path.join(tmp, "work")
        os.mkdir(work)
        script = os.path.join(work, "example.py")
        with open(script, "w") as f:
            f.write(EXAMPLE)
        run = subprocess.run([python, script], cwd=work, env=env, capture_output=True, text=True)
        print(run.stdout + run.stderr[-3000:])
        ok = run.returncode == 0
        print("%d passed, %d failed" % (ok, not ok))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
