"""The random numerics suite for the CPU: seeded layer configurations run through
kha-translate -> kha-compile -> kha-run and compared with the float64 reference at
the tolerances of docs/semantics.md.

    numerics.py --count                    how many cases there are
    numerics.py --tools DIR [--case N]...  run some (default: all) cases

The cases cover every knock combination, G in {1, 2, H}, static and dynamic B
and L, L = 1, L not a multiple of 8, H*d != D, causal on and off, with and
without RoPE and QK-norm, with RoPE scaled four ways (linear, llama3, yarn,
dynamic), with and without projection biases (all four, or q, k and v only),
with given positions (each sequence at its own offset) and with left-padded
attention masks, in f32, f16 and bf16.
"""

import argparse
import itertools
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))

KNOCKS = list(itertools.product(["none", "linear"], ["none", "linear"],
                                ["none", "linear", "mlp"]))
# (D, H, d): H*d == D, H*d > D, H*d < D.
SHAPES = [(32, 4, 8), (24, 4, 8), (48, 2, 12), (40, 6, 6)]
SEQ_LENS = [1, 13, 37, 8, 5, 64]
DTYPES = ["f32", "f32", "f16", "bf16"]


def cases():
    """36 configurations (3 per knock combination), each with run sizes."""
    out = []
    for i in range(36):
        q, k, v = KNOCKS[i % 12]
        D, H, d = SHAPES[i % len(SHAPES)]
        G = [1, 2, H][(i // 4) % 3]
        if H % G:
            G = 1
        L = SEQ_LENS[i % len(SEQ_LENS)]
        B = 1 + i % 3
        dynamic = i % 3 == 1
        config = {
            "hidden_size": D, "num_attention_heads": H, "num_key_value_heads": G,
            "head_dim": d, "knock": {"q": q, "k": k, "v": v},
            "qk_norm": i % 2 == 0, "rms_norm_eps": 1e-6,
            "rope_theta": None if i % 5 == 3 else [10000.0, 500000.0][i % 2],
            "causal": i % 4 != 2,
            "batch": None if dynamic else B,
            "seq_len": None if dynamic or i % 7 == 5 else L,
            "dtype": DTYPES[i % len(DTYPES)],
        }
        # Projection biases on a third of the cases, every knock combination:
        # all four (Llama's attention_bias) or q, k, v only (Qwen2's).
        # Scaled RoPE (Hugging Face's rope_scaling) on four cases, one per
        # type, in f32, f16 and bf16; the dynamic case has a static L = 37
        # beyond max_position_embeddings, so its scaling is in effect.
        kind = {4: "linear", 14: "llama3", 27: "yarn", 32: "dynamic"}.get(i)
        if kind:
            config["max_position_embeddings"] = 16
            config["rope_scaling"] = {
                "linear": {"rope_type": "linear", "factor": 4.0},
                "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
                "yarn": {"rope_type": "yarn", "factor": 4.0},
                "dynamic": {"rope_type": "dynamic", "factor": 2.0}}[kind]
        if i % 6 == 1:
            config["attention_bias"] = True
        elif i % 6 == 4:
            config["qkv_bias"] = True
        # Positions (Hugging Face's position_ids) on a fifth of the cases,
        # left-padded attention masks on five (f32, f16, bf16; case 30 both).
        if i % 5 == 0:
            config["position_ids"] = True
        if i % 7 == 2:
            config["attention_mask"] = True
        out.append((config, B, L))
    return out


def describe(config, B, L):
    knock = config["knock"]
    return "q=%s k=%s v=%s D=%d H=%d G=%d d=%d B=%s L=%s %s%s%s%s%s%s%s%s" % (
        knock["q"], knock["k"], knock["v"], config["hidden_size"],
        config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"],
        B if config["batch"] else "%d(dyn)" % B, L if config["seq_len"] else "%d(dyn)" % L,
        config["dtype"], " causal" if config["causal"] else "",
        " rope" if config["rope_theta"] else "", " qknorm" if config["qk_norm"] else "",
        " bias" if config.get("attention_bias") else
        " qkv-bias" if config.get("qkv_bias") else "",
        " rope-" + config["rope_scaling"]["rope_type"] if config.get("rope_scaling") else "",
        " positions" if config.get("position_ids") else "",
        " padding-mask" if config.get("attention_mask") else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", action="store_true")
    parser.add_argument("--tools")
    parser.add_argument("--case", type=int, action="append")
    parser.add_argument("--compile-flag", action="append", default=[],
                        help="extra kha-compile flag (repeatable)")
    opts = parser.parse_args()
    all_cases = cases()
    if opts.count:
        print(len(all_cases))
        return 0
    if not opts.tools:
        parser.error("--tools is required")

    from kha.check import check, compile_config

    selected = opts.case if opts.case else range(len(all_cases))
    passed = failed = 0
    for index in selected:
        config, B, L = all_cases[index]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            try:
                lib = compile_config(path, opts.tools, tmp, opts.compile_flag)
                err, tol, _ = check(path, opts.tools, B, L, seed=index, library=lib)
                ok = err < tol
                detail = "error %.3g (tolerance %.0e)" % (err, tol)
            except Exception as e:  # a tool failure is a failed case
                ok, detail = False, str(e)
        passed += ok
        failed += not ok
        print("case %2d %s: %s: %s" % (index, "ok  " if ok else "FAIL",
                                      describe(config, B, L), detail))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
