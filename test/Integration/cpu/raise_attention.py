"""Attention written by other frontends, raised to kha.sdpa and compiled,
against the float64 reference.

Each form is generic linalg (or TOSA) as a frontend writes it. The test first
checks that `kha-opt --kha-raise-attention` (for TOSA: the CPU pipeline's own
TOSA conversion, then the raising) turns it into kha.sdpa, so that a
numerically right answer from the unraised linalg cannot pass for a raised
one; then compiles it with kha-compile for the CPU and for the GPU kernels run
on the host (sm_80 and sm_90a), runs it with kha-run on random inputs and
compares with softmax(scale Q K^T + mask) V in float64.

Forms: generic contractions over [B, H, L, d] with a causal select on index
comparisons and a scale on the scores; TOSA over [B*H, L, d] (a transposed
K, a decomposed softmax with the reciprocal); [B, L, H, d] operands with GQA
by a broadcast, a padding mask [B, S] and the scale on Q, at dynamic B and L
(run at awkward sizes, L = 1 among them); one head without a batch with a
constant causal mask; and a projection followed by a linear knock written
as an einsum, raised (kha-raise-knocks) and folded into the weight.

usage: raise_attention.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TARGETS = {
    "cpu": [],
    "sm_80 on host": ["--target=cuda", "--cuda-on-host", "--cuda-chip=sm_80"],
    "sm_90a on host": ["--target=cuda", "--cuda-on-host", "--cuda-chip=sm_90a"],
}
TOLERANCE = 1e-4  # f32 (the contract's)

CONTRACT_BHLS = """
#q = affine_map<(b, h, l, s, e) -> ({q})>
#k = affine_map<(b, h, l, s, e) -> ({k})>
#s = affine_map<(b, h, l, s, e) -> (b, h, l, s)>
#p = affine_map<(b, h, l, e, s) -> (b, h, l, s)>
#v = affine_map<(b, h, l, e, s) -> ({v})>
#o = affine_map<(b, h, l, e, s) -> ({o})>
#id = affine_map<(b, h, l, s) -> (b, h, l, s)>
#row = affine_map<(b, h, l, s) -> (b, h, l)>
"""

CONTRACTION_BODY = """  ^bb0(%a: f32, %b: f32, %c: f32):
    %ab = arith.mulf %a, %b : f32
    %sum = arith.addf %c, %ab : f32
    linalg.yield %sum : f32"""


def generic_bhld(B, H, L, S, d):
    """[B, H, L, d] operands, causal select and scale fused, linalg.softmax."""
    t = lambda *s: "tensor<%sxf32>" % "x".join(map(str, s))
    return (CONTRACT_BHLS.format(q="b, h, l, e", k="b, h, s, e", v="b, h, s, e",
                                 o="b, h, l, e") + """
func.func @attn(%q: {Q}, %k: {K}, %v: {K}) -> {Q} {{
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.3 : f32
  %e0 = tensor.empty() : {P}
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : {P}) -> {P}
  %s = linalg.generic {{indexing_maps = [#q, #k, #s],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%q, %k : {Q}, {K}) outs(%z0 : {P}) {{
{body}
  }} -> {P}
  %m = linalg.generic {{indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%s : {P}) outs(%e0 : {P}) {{
  ^bb0(%a: f32, %c: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %x = arith.mulf %a, %scale : f32
    %keep = arith.cmpi sle, %j, %i : index
    %r = arith.select %keep, %x, %ninf : f32
    linalg.yield %r : f32
  }} -> {P}
  %p = linalg.softmax dimension(3) ins(%m : {P}) outs(%e0 : {P}) -> {P}
  %e1 = tensor.empty() : {Q}
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : {Q}) -> {Q}
  %o = linalg.generic {{indexing_maps = [#p, #v, #o],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%p, %v : {P}, {K}) outs(%z1 : {Q}) {{
{body}
  }} -> {Q}
  return %o : {Q}
}}
""".format(Q=t(B, H, L, d), K=t(B, H, S, d), P=t(B, H, L, S), body=CONTRACTION_BODY))


def reference_generic_bhld(q, k, v):
    """Inputs [B, H, *, d]; causal, scale 0.3."""
    s = np.einsum("bhld,bhsd->bhls", q, k) * 0.3
    L, S = s.shape[-2:]
    s = np.where(np.arange(S)[None, :] > np.arange(L)[:, None], -np.inf, s)
    return np.einsum("bhls,bhsd->bhld", softmax(s), v)


def tosa_form(N, L, S, d):
    t = lambda *s: "tensor<%sxf32>" % "x".join(map(str, s))
    return """
func.func @attn(%q: {Q}, %k: {K}, %v: {K}) -> {Q} {{
  %kt = tosa.transpose %k {{perms = array<i32: 0, 2, 1>}} : ({K}) -> {KT}
  %zp = "tosa.const"() <{{values = dense<0.0> : tensor<1xf32>}}> : () -> tensor<1xf32>
  %s = tosa.matmul %q, %kt, %zp, %zp : ({Q}, {KT}, tensor<1xf32>, tensor<1xf32>) -> {P}
  %c = "tosa.const"() <{{values = dense<0.25> : tensor<1x1x1xf32>}}> : () -> tensor<1x1x1xf32>
  %shift = "tosa.const"() <{{values = dense<0> : tensor<1xi8>}}> : () -> tensor<1xi8>
  %ss = tosa.mul %s, %c, %shift : ({P}, tensor<1x1x1xf32>, tensor<1xi8>) -> {P}
  %m = tosa.reduce_max %ss {{axis = 2 : i32}} : ({P}) -> {R}
  %d = tosa.sub %ss, %m : ({P}, {R}) -> {P}
  %e = tosa.exp %d : ({P}) -> {P}
  %sum = tosa.reduce_sum %e {{axis = 2 : i32}} : ({P}) -> {R}
  %r = tosa.reciprocal %sum : ({R}) -> {R}
  %p = tosa.mul %e, %r, %shift : ({P}, {R}, tensor<1xi8>) -> {P}
  %o = tosa.matmul %p, %v, %zp, %zp : ({P}, {K}, tensor<1xf32>, tensor<1xf32>) -> {Q}
  return %o : {Q}
}}
""".format(Q=t(N, L, d), K=t(N, S, d), KT=t(N, d, S), P=t(N, L, S), R=t(N, L, 1))


def reference_tosa(q, k, v):
    return np.einsum("nls,nsd->nld", softmax(np.einsum("nld,nsd->nls", q, k) * 0.25), v)


def gqa_padding(H, G, d):
    """[B, L, H, d] operands at dynamic B, L, S; GQA by a broadcast; the
    padding mask [B, S]; 0.5 on Q and 0.25 on the scores."""
    r = H // G
    return """
#q = affine_map<(b, h, l, s, e) -> (b, l, h, e)>
#k = affine_map<(b, h, l, s, e) -> (b, s, h, e)>
#s = affine_map<(b, h, l, s, e) -> (b, h, l, s)>
#p = affine_map<(b, h, l, e, s) -> (b, h, l, s)>
#v = affine_map<(b, h, l, e, s) -> (b, s, h, e)>
#o = affine_map<(b, h, l, e, s) -> (b, l, h, e)>
#id = affine_map<(b, h, l, s) -> (b, h, l, s)>
#pad = affine_map<(b, h, l, s) -> (b, s)>
#id4 = affine_map<(a, b, c, d) -> (a, b, c, d)>
func.func @attn(%q: tensor<?x?x{H}x{d}xf32>, %k: tensor<?x?x{G}x{d}xf32>,
                %v: tensor<?x?x{G}x{d}xf32>, %pad: tensor<?x?xf32>) -> tensor<?x?x{H}x{d}xf32> {{
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %quarter = arith.constant 0.25 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %B = tensor.dim %q, %c0 : tensor<?x?x{H}x{d}xf32>
  %L = tensor.dim %q, %c1 : tensor<?x?x{H}x{d}xf32>
  %S = tensor.dim %k, %c1 : tensor<?x?x{G}x{d}xf32>
  %eq = tensor.empty(%B, %L) : tensor<?x?x{H}x{d}xf32>
  %qs = linalg.generic {{indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%q : tensor<?x?x{H}x{d}xf32>) outs(%eq : tensor<?x?x{H}x{d}xf32>) {{
  ^bb0(%a: f32, %c: f32):
    %m = arith.mulf %a, %half : f32
    linalg.yield %m : f32
  }} -> tensor<?x?x{H}x{d}xf32>
  %eb = tensor.empty(%B, %S) : tensor<?x?x{G}x{r}x{d}xf32>
  %kb = linalg.broadcast ins(%k : tensor<?x?x{G}x{d}xf32>) outs(%eb : tensor<?x?x{G}x{r}x{d}xf32>) dimensions = [3]
  %vb = linalg.broadcast ins(%v : tensor<?x?x{G}x{d}xf32>) outs(%eb : tensor<?x?x{G}x{r}x{d}xf32>) dimensions = [3]
  %kr = tensor.collapse_shape %kb [[0], [1], [2, 3], [4]] : tensor<?x?x{G}x{r}x{d}xf32> into tensor<?x?x{H}x{d}xf32>
  %vr = tensor.collapse_shape %vb [[0], [1], [2, 3], [4]] : tensor<?x?x{G}x{r}x{d}xf32> into tensor<?x?x{H}x{d}xf32>
  %e0 = tensor.empty(%B, %L, %S) : tensor<?x{H}x?x?xf32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<?x{H}x?x?xf32>) -> tensor<?x{H}x?x?xf32>
  %s = linalg.generic {{indexing_maps = [#q, #k, #s],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%qs, %kr : tensor<?x?x{H}x{d}xf32>, tensor<?x?x{H}x{d}xf32>) outs(%z0 : tensor<?x{H}x?x?xf32>) {{
{body}
  }} -> tensor<?x{H}x?x?xf32>
  %m = linalg.generic {{indexing_maps = [#id, #pad, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%s, %pad : tensor<?x{H}x?x?xf32>, tensor<?x?xf32>) outs(%e0 : tensor<?x{H}x?x?xf32>) {{
  ^bb0(%a: f32, %b: f32, %c: f32):
    %x = arith.mulf %a, %quarter : f32
    %y = arith.addf %x, %b : f32
    linalg.yield %y : f32
  }} -> tensor<?x{H}x?x?xf32>
  %p = linalg.softmax dimension(3) ins(%m : tensor<?x{H}x?x?xf32>) outs(%e0 : tensor<?x{H}x?x?xf32>) -> tensor<?x{H}x?x?xf32>
  %e1 = tensor.empty(%B, %L) : tensor<?x?x{H}x{d}xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x?x{H}x{d}xf32>) -> tensor<?x?x{H}x{d}xf32>
  %o = linalg.generic {{indexing_maps = [#p, #v, #o],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%p, %vr : tensor<?x{H}x?x?xf32>, tensor<?x?x{H}x{d}xf32>) outs(%z1 : tensor<?x?x{H}x{d}xf32>) {{
{body}
  }} -> tensor<?x?x{H}x{d}xf32>
  return %o : tensor<?x?x{H}x{d}xf32>
}}
""".format(H=H, G=G, d=d, r=r, body=CONTRACTION_BODY)


def reference_gqa_padding(q, k, v, pad):
    """Inputs [B, *, heads, d], pad [B, S]."""
    H, G = q.shape[2], k.shape[2]
    k = np.repeat(k, H // G, axis=2)
    v = np.repeat(v, H // G, axis=2)
    s = np.einsum("blhd,bshd->bhls", q * 0.5, k) * 0.25 + pad[:, None, None, :]
    return np.einsum("bhls,bshd->blhd", softmax(s), v)


def single_head(L, d, dv):
    """linalg.matmul, K transposed, a constant causal mask of the type's
    lowest, a division by 2, linalg.softmax."""
    low = "-3.40282347E+38"
    rows = ", ".join("[%s]" % ", ".join("0.0" if j <= i else low for j in range(L))
                     for i in range(L))
    return """
func.func @attn(%q: tensor<{L}x{d}xf32>, %k: tensor<{L}x{d}xf32>, %v: tensor<{L}x{dv}xf32>) -> tensor<{L}x{dv}xf32> {{
  %zero = arith.constant 0.0 : f32
  %two = arith.constant dense<2.0> : tensor<{L}x{L}xf32>
  %mask = arith.constant dense<[{rows}]> : tensor<{L}x{L}xf32>
  %ek = tensor.empty() : tensor<{d}x{L}xf32>
  %kt = linalg.transpose ins(%k : tensor<{L}x{d}xf32>) outs(%ek : tensor<{d}x{L}xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<{L}x{L}xf32>
  %z = linalg.fill ins(%zero : f32) outs(%es : tensor<{L}x{L}xf32>) -> tensor<{L}x{L}xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<{L}x{d}xf32>, tensor<{d}x{L}xf32>) outs(%z : tensor<{L}x{L}xf32>) -> tensor<{L}x{L}xf32>
  %x = linalg.div ins(%s, %two : tensor<{L}x{L}xf32>, tensor<{L}x{L}xf32>) outs(%es : tensor<{L}x{L}xf32>) -> tensor<{L}x{L}xf32>
  %m = linalg.add ins(%x, %mask : tensor<{L}x{L}xf32>, tensor<{L}x{L}xf32>) outs(%es : tensor<{L}x{L}xf32>) -> tensor<{L}x{L}xf32>
  %p = linalg.softmax dimension(1) ins(%m : tensor<{L}x{L}xf32>) outs(%es : tensor<{L}x{L}xf32>) -> tensor<{L}x{L}xf32>
  %eo = tensor.empty() : tensor<{L}x{dv}xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<{L}x{dv}xf32>) -> tensor<{L}x{dv}xf32>
  %o = linalg.matmul ins(%p, %v : tensor<{L}x{L}xf32>, tensor<{L}x{dv}xf32>) outs(%zo : tensor<{L}x{dv}xf32>) -> tensor<{L}x{dv}xf32>
  return %o : tensor<{L}x{dv}xf32>
}}
""".format(L=L, d=d, dv=dv, rows=rows)


def reference_single_head(q, k, v):
    s = q @ k.T / 2
    L = s.shape[0]
    s = np.where(np.arange(L)[None, :] > np.arange(L)[:, None], -np.inf, s)
    return softmax(s) @ v


def knocked_projection(M, D, N, d, B):
    """A projection x W [M, N*d] into heads [B, M/B, N, d], then every head
    times one d x d matrix T as an einsum-style generic (a linear knock as
    another frontend writes it): raised to kha.linear_knock and folded."""
    L = M // B
    return """
#x = affine_map<(b, l, n, e, c) -> (b, l, n, c)>
#t = affine_map<(b, l, n, e, c) -> (c, e)>
#y = affine_map<(b, l, n, e, c) -> (b, l, n, e)>
func.func @proj(%x: tensor<{M}x{D}xf32>, %w: tensor<{D}x{Nd}xf32>, %t: tensor<{d}x{d}xf32>) -> tensor<{B}x{L}x{N}x{d}xf32> {{
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{M}x{Nd}xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<{M}x{Nd}xf32>) -> tensor<{M}x{Nd}xf32>
  %p = linalg.matmul ins(%x, %w : tensor<{M}x{D}xf32>, tensor<{D}x{Nd}xf32>) outs(%z : tensor<{M}x{Nd}xf32>) -> tensor<{M}x{Nd}xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [{B}, {L}, {N}, {d}] : tensor<{M}x{Nd}xf32> into tensor<{B}x{L}x{N}x{d}xf32>
  %e2 = tensor.empty() : tensor<{B}x{L}x{N}x{d}xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<{B}x{L}x{N}x{d}xf32>) -> tensor<{B}x{L}x{N}x{d}xf32>
  %k = linalg.generic {{indexing_maps = [#x, #t, #y],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%h, %t : tensor<{B}x{L}x{N}x{d}xf32>, tensor<{d}x{d}xf32>) outs(%z2 : tensor<{B}x{L}x{N}x{d}xf32>) {{
{body}
  }} -> tensor<{B}x{L}x{N}x{d}xf32>
  return %k : tensor<{B}x{L}x{N}x{d}xf32>
}}
""".format(M=M, D=D, N=N, d=d, Nd=N * d, B=B, L=L, body=CONTRACTION_BODY)


def reference_knocked_projection(x, w, t, B, N):
    h = (x @ w).reshape(B, x.shape[0] // B, N, t.shape[0])
    return h @ t


def softmax(s):
    s = s - np.max(s, axis=-1, keepdims=True)
    e = np.exp(s)
    return e / np.sum(e, axis=-1, keepdims=True)


def relative_error(y, ref):
    return float(np.max(np.abs(y - ref)) / max(np.max(np.abs(ref)), 1e-30))


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(11)
    u = lambda *shape: rng.uniform(-1, 1, shape)
    B, H, G, d = 2, 4, 2, 16
    pad = lambda b, s: np.where(rng.uniform(0, 1, (b, s)) < 0.3, -np.inf, 0.0)
    cases = []  # name, source, pipeline for the raising check, inputs, reference
    q, k, v = u(B, H, 13, d), u(B, H, 29, d), u(B, H, 29, d)
    cases.append(("generic [B, H, L, d], causal select", generic_bhld(B, H, 13, 29, d),
                  [q, k, v], reference_generic_bhld(q, k, v)))
    q, k, v = u(6, 11, 8), u(6, 21, 8), u(6, 21, 8)
    cases.append(("TOSA [B*H, L, d]", tosa_form(6, 11, 21, 8), [q, k, v],
                  reference_tosa(q, k, v)))
    for b, L, S in ((3, 1, 40), (2, 37, 37), (1, 70, 5)):
        q, k, v, m = u(b, L, H, d), u(b, S, G, d), u(b, S, G, d), pad(b, S)
        m[:, 0] = 0.0  # every row keeps a key
        cases.append(("GQA, padding mask, B=%d L=%d S=%d" % (b, L, S), gqa_padding(H, G, d),
                      [q, k, v, m], reference_gqa_padding(q, k, v, m)))
    q, k, v = u(7, 8), u(7, 8), u(7, 3)
    cases.append(("one head, constant causal mask", single_head(7, 8, 3), [q, k, v],
                  reference_single_head(q, k, v)))

    x, w, t = u(3 * 7, 24), u(24, 4 * 8), u(8, 8)
    cases.append(("knocked projection (a linear knock as an einsum)",
                  knocked_projection(21, 24, 4, 8, 3), [x, w, t],
                  reference_knocked_projection(x, w, t, 3, 4)))

    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, source, inputs, ref in cases:
            src = os.path.join(tmp, "attn.mlir")
            with open(src, "w") as f:
                f.write(source)
            # Raised? TOSA goes through the pipeline's own conversion first.
            raise_flags = (["--tosa-to-linalg-pipeline", "--tosa-to-arith", "--tosa-to-tensor"]
                           if "tosa." in source else [])
            if "@proj" in source:
                # The knock raised, then folded into the projection weight.
                raised = subprocess.run([os.path.join(tools, "kha-opt"), src, "--kha-raise-knocks",
                                         "--kha-fold-knock"], capture_output=True, text=True)
                ok = (raised.returncode == 0 and "kha.linear_knock" not in raised.stdout and
                      "linalg.generic" not in raised.stdout)
            else:
                raised = subprocess.run([os.path.join(tools, "kha-opt"), src, *raise_flags,
                                         "--kha-raise-attention"], capture_output=True, text=True)
                ok = raised.returncode == 0 and "kha.sdpa" in raised.stdout
            print("%s: raised: %s" % (name, "ok" if ok else "FAIL " + raised.stderr[-300:]))
            passed += ok
            failed += not ok
            for target, flags in TARGETS.items():
                lib = os.path.join(tmp, "attn.so")
                compiled = subprocess.run([os.path.join(tools, "kha-compile"), src, "-o", lib, *flags],
                                          capture_output=True, text=True)
                if compiled.returncode != 0:
                    print("%s, %s: kha-compile failed: FAIL\n%s" % (name, target, compiled.stderr[-600:]))
                    failed += 1
                    continue
                paths = []
                for i, a in enumerate(inputs):
                    paths.append(os.path.join(tmp, "in%d.npy" % i))
                    np.save(paths[-1], a.astype(np.float32))
                out = os.path.join(tmp, "out.npy")
                run = subprocess.run([os.path.join(tools, "kha-run"), lib,
                                      *["--input=@" + p for p in paths], "--output=@" + out],
                                     capture_output=True, text=True)
                if run.returncode != 0:
                    print("%s, %s: kha-run failed: FAIL\n%s" % (name, target, run.stderr[-600:]))
                    failed += 1
                    continue
                err = relative_error(np.load(out).astype(np.float64), ref)
                ok = err < TOLERANCE
                print("%s, %s: error %.2g: %s" % (name, target, err, "ok" if ok else "FAIL"))
                passed += ok
                failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
