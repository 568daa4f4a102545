"""Checks (or applies) the C++ style: clang-format-22 with the repository's
.clang-format (LLVM style) on every tracked C/C++ source.

    python3 scripts/format.py          # check: lists the files that differ, exit 1
    python3 scripts/format.py --fix    # rewrite them in place

ctest runs the check (style/clang-format); scripts/setup.sh installs
clang-format-22. Files are those git tracks, so build trees are never read.
"""

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSIONS = (".cpp", ".h", ".c")


def sources():
    listed = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True,
                            check=True).stdout.decode().split("\0")
    return [os.path.join(ROOT, f) for f in listed if f.endswith(EXTENSIONS)]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fix", action="store_true", help="rewrite the files in place")
    parser.add_argument("--clang-format", default="clang-format-22")
    opts = parser.parse_args()
    tool = shutil.which(opts.clang_format)
    if not tool:
        print("format.py: %s not found (scripts/setup.sh installs it)" % opts.clang_format)
        return 1
    files = sources()
    if opts.fix:
        subprocess.run([tool, "-i", *files], check=True)
        print("formatted %d files" % len(files))
        return 0
    differ = []
    for path in files:
        result = subprocess.run([tool, "--dry-run", "--Werror", path], capture_output=True,
                                text=True)
        if result.returncode != 0:
            differ.append(os.path.relpath(path, ROOT))
    for path in differ:
        print("not formatted: %s" % path)
    print("%d passed, %d failed" % (len(files) - len(differ), len(differ)))
    if differ:
        print("run: python3 scripts/format.py --fix")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
