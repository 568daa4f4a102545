"""kha-fold-knock on projections written the way other frontends write them
(linalg.batch_matmul with a linalg.broadcast or a broadcast map, a transposed
[N*d, D] weight, a linalg.generic multiply-add), compiled with the fold on
and off, against a float64 reference: y = (x W).reshape(..., N, d) T.

Sizes are awkward on purpose: N*d != D, L = 1, nothing a multiple of a tile.

usage: fold_forms.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TOLERANCE = 1e-4  # f32, docs/semantics.md


def module(b, l, dm, n, d):
    w = n * d
    m = b * l
    ty = lambda *s: "tensor<%sxf32>" % "x".join(map(str, s))
    heads = ty(b, l, n, d)
    fill = lambda shape: (
        "  %%e = tensor.empty() : %s\n  %%z = arith.constant 0.0 : f32\n"
        "  %%f = linalg.fill ins(%%z : f32) outs(%%e : %s) -> %s\n" % ((ty(*shape),) * 3))
    knock = ("  %%k = kha.linear_knock %%h, %%t : %s, %s\n  return %%k : %s\n}\n"
             % (heads, ty(d, d), heads))
    expand3 = ("  %%h = tensor.expand_shape %%p [[0], [1], [2, 3]] output_shape [%d, %d, %d, %d]"
               " : %s into %s\n" % (b, l, n, d, ty(b, l, w), heads))
    expand2 = ("  %%h = tensor.expand_shape %%p [[0, 1], [2, 3]] output_shape [%d, %d, %d, %d]"
               " : %s into %s\n" % (b, l, n, d, ty(m, w), heads))
    src = ""
    # linalg.batch_matmul, the weight broadcast by linalg.broadcast.
    src += "func.func @batch_broadcast(%%x: %s, %%w: %s, %%t: %s) -> %s {\n" % (
        ty(b, l, dm), ty(dm, w), ty(d, d), heads)
    src += ("  %%eb = tensor.empty() : %s\n  %%wb = linalg.broadcast ins(%%w : %s) outs(%%eb : %s)"
            " dimensions = [0]\n" % (ty(b, dm, w), ty(dm, w), ty(b, dm, w)))
    src += fill((b, l, w))
    src += ("  %%p = linalg.batch_matmul ins(%%x, %%wb : %s, %s) outs(%%f : %s) -> %s\n"
            % (ty(b, l, dm), ty(b, dm, w), ty(b, l, w), ty(b, l, w)))
    src += expand3 + knock
    # linalg.batch_matmul, the broadcast in the indexing map.
    src += "func.func @batch_map(%%x: %s, %%w: %s, %%t: %s) -> %s {\n" % (
        ty(b, l, dm), ty(dm, w), ty(d, d), heads)
    src += fill((b, l, w))
    src += ("  %%p = linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,"
            " affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>]"
            " ins(%%x, %%w : %s, %s) outs(%%f : %s) -> %s\n"
            % (ty(b, l, dm), ty(dm, w), ty(b, l, w), ty(b, l, w)))
    src += expand3 + knock
    # linalg.matmul with the weight transposed, [N*d, D] (nn.Linear's layout).
    src += "func.func @transposed(%%x: %s, %%w: %s, %%t: %s) -> %s {\n" % (
        ty(m, dm), ty(w, dm), ty(d, d), heads)
    src += fill((m, w))
    src += ("  %%p = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,"
            " affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]"
            " ins(%%x, %%w : %s, %s) outs(%%f : %s) -> %s\n" % (ty(m, dm), ty(w, dm), ty(m, w), ty(m, w)))
    src += expand2 + knock
    # A linalg.generic multiply-add.
    src += "func.func @generic(%%x: %s, %%w: %s, %%t: %s) -> %s {\n" % (
        ty(m, dm), ty(dm, w), ty(d, d), heads)
    src += fill((m, w))
    src += ("  %%p = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,"
            " affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>],"
            " iterator_types = [\"parallel\", \"parallel\", \"reduction\"]}"
            " ins(%%x, %%w : %s, %s) outs(%%f : %s) {\n"
            "  ^bb0(%%a: f32, %%c: f32, %%o: f32):\n"
            "    %%s = arith.mulf %%a, %%c : f32\n    %%r = arith.addf %%o, %%s : f32\n"
            "    linalg.yield %%r : f32\n  } -> %s\n" % (ty(m, dm), ty(dm, w), ty(m, w), ty(m, w)))
    src += expand2 + knock
    return src


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(11)
    passed = failed = 0
    for (b, l, dm, n, d) in [(2, 5, 10, 3, 4), (1, 1, 7, 2, 3), (3, 9, 33, 5, 8)]:
        m = b * l
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "forms.mlir")
            with open(src, "w") as f:
                f.write(module(b, l, dm, n, d))
            libs = {}
            for label, flags in (("folded", []), ("unfolded", ["--no-fold-knocks"])):
                libs[label] = os.path.join(tmp, label + ".so")
                subprocess.run([os.path.join(tools, "kha-compile"), src, "-o", libs[label], *flags],
                               check=True)
            x = rng.uniform(-1, 1, (m, dm))
            w = rng.uniform(-1, 1, (dm, n * d)) / np.sqrt(dm)
            t = rng.uniform(-1, 1, (d, d))
            ref = ((x @ w).reshape(b, l, n, d) @ t)
            args = {
                "batch_broadcast": (x.reshape(b, l, dm), w, t),
                "batch_map": (x.reshape(b, l, dm), w, t),
                "transposed": (x, w.T.copy(), t),
                "generic": (x, w, t),
            }
            for fn, arrays in args.items():
                paths = []
                for i, a in enumerate(arrays):
                    paths.append(os.path.join(tmp, "%s%d.npy" % (fn, i)))
                    np.save(paths[-1], a.astype(np.float32))
                for label, lib in libs.items():
                    y_path = os.path.join(tmp, "y.npy")
                    subprocess.run([os.path.join(tools, "kha-run"), lib, "--function=" + fn,
                                    *["--input=@" + p for p in paths], "--output=@" + y_path],
                                   check=True, capture_output=True)
                    y = np.load(y_path).astype(np.float64)
                    err = np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-30)
                    ok = y.shape == ref.shape and err < TOLERANCE
                    passed += ok
                    failed += not ok
                    print("B=%d L=%d D=%d N=%d d=%d %-15s %-8s error %.3g: %s"
                          % (b, l, dm, n, d, fn, label, err, "ok" if ok else "FAIL"))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
