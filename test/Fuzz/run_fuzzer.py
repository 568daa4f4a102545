"""Runs one libFuzzer target for a fixed time from seed corpora: new inputs
go to a fresh working corpus (the seeds are only read). Fails on any crash,
sanitizer report, timeout or out-of-memory (libFuzzer's exit status), and
prints the executions run and the coverage reached; a crashing input is
kept as crash-* in the working directory for a regression test.

usage: run_fuzzer.py FUZZER SECONDS SEED_DIR...
"""
import os
import re
import subprocess
import sys
import tempfile


def main():
    fuzzer, seconds = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    seeds = [os.path.abspath(s) for s in sys.argv[3:]]
    work = tempfile.mkdtemp(prefix="kha-fuzz-")
    corpus = os.path.join(work, "corpus")
    os.mkdir(corpus)
    cmd = [fuzzer, "-max_total_time=%d" % seconds, "-timeout=20", "-rss_limit_mb=3072",
           "-max_len=65536", "-print_final_stats=1", "-seed=1",
           "-artifact_prefix=" + work + "/"]
    # A dictionary of the format's words, where there is one.
    words = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         os.path.basename(fuzzer).replace("kha-fuzz-", "") + ".dict")
    if os.path.exists(words):
        cmd.append("-dict=" + words)
    cmd += [corpus, *seeds]
    # allow_user_poisoning=0: the targets compile kha's sources with ASan but
    # link Debian's uninstrumented libMLIR.so, and both allocate from the same
    # llvm::BumpPtrAllocators (a context's uniquers). Instrumented inline
    # allocator code poisons a new slab's free space (LLVM_ADDRESS_SANITIZER_
    # BUILD); libMLIR's copy of the same code hands out parts of it without
    # unpoisoning them, which ASan then reports as use-after-poison. Without
    # the allocator's manual poisoning, every other check stays.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""),
                                                 "allow_user_poisoning=0"]))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env)
    log = proc.stderr
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+)", log)
    name = os.path.basename(fuzzer)
    if proc.returncode != 0:
        print(log[-6000:])
        print("%s: FAILED (exit %d); artifacts in %s" % (name, proc.returncode, work))
        print("0 passed, 1 failed")
        return 1
    print("%s: %s executions in %d s, coverage %s edges, no crash" % (
        name, runs.group(1) if runs else "?", seconds, cov[-1] if cov else "?"))
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
