"""MLIR text of small kha functions, for tests, benchmarks and examples.

    from kha.text import sdpa_function
    src = sdpa_function("tensor<?x?x8x64xf32>", "tensor<?x?x2x64xf32>",
                        "tensor<?x?x2x64xf32>", scale=0.125, causal=True)

Needs no MLIR: the result is a string to parse (kha.Module.parse), to write
to a file for kha-opt or kha-compile, or to compile with kha.compile.
"""

import re


def _shape(tensor_type):
    m = re.fullmatch(r"tensor<((?:[0-9?]+x)+)([a-z0-9]+)>", tensor_type)
    if not m:
        raise ValueError("not a ranked tensor type: %r" % tensor_type)
    return m.group(1)[:-1].split("x"), m.group(2)


def sdpa_function(query, key, value, scale, causal=False, mask=None,
                  name="attn", extra_attrs=""):
    """`func.func @name(%q, %k, %v[, %m])` returning one `kha.sdpa`.

    `query`, `key`, `value` and `mask` are tensor type strings. The result
    `[B, L, H, dv]` takes B, L, H from the query and dv from the value; its
    destination is a `tensor.empty` sized from them where they are dynamic.
    `extra_attrs` is added to the op's attribute dictionary (for example
    "bottom_right")."""
    q_shape, element = _shape(query)
    v_shape, _ = _shape(value)
    result_shape = q_shape[:3] + v_shape[3:]
    result = "tensor<%sx%s>" % ("x".join(result_shape), element)
    lines, sizes = [], []
    for i, size in enumerate(result_shape):
        if size != "?":
            continue
        source, source_type = ("%q", query) if i < 3 else ("%v", value)
        lines.append("  %%c%d = arith.constant %d : index" % (i, i))
        lines.append("  %%d%d = tensor.dim %s, %%c%d : %s" % (i, source, i, source_type))
        sizes.append("%%d%d" % i)
    lines.append("  %%init = tensor.empty(%s) : %s" % (", ".join(sizes), result))
    attrs = ", ".join(a for a in ("causal" if causal else "", extra_attrs,
                                  "scale = %r : f64" % float(scale)) if a)
    arguments = "%%q: %s, %%k: %s, %%v: %s" % (query, key, value)
    operand_types = [query, key, value]
    if mask:
        arguments += ", %%m: %s" % mask
        operand_types.append(mask)
    operand_types.append(result)
    lines.append("  %%o = kha.sdpa %%q, %%k, %%v%s outs(%%init) {%s}"
                 " : (%s) -> %s" % (" mask(%m)" if mask else "", attrs,
                                    ", ".join(operand_types), result))
    lines.append("  return %%o : %s" % result)
    return "func.func @%s(%s) -> %s {\n%s\n}\n" % (name, arguments, result,
                                                  "\n".join(lines))
