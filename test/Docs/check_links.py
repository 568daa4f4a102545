"""Every link in the repository's Markdown (README.md, docs/, python/ and the
rest, build folders aside) resolves inside the repository: a relative link
names a file or folder that exists, and a link to a heading (`page.md#name`
or `#name`) names a heading of that page, as GitHub spells its anchors.
Links to web addresses are not followed (the tests run offline) but must be
https. Prints each broken link with its file and line.

usage: check_links.py REPO_ROOT
"""
import os
import re
import sys

SKIP_DIRS = {".git", "build", "build-asan", "gpu-check", "__pycache__", "node_modules"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def anchor(title):
    """GitHub's anchor for a heading: lower case, markup and punctuation
    dropped, spaces to hyphens."""
    title = re.sub(r"`([^`]*)`", r"\1", title)
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    title = title.strip().lower()
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        names, seen, fenced = set(), {}, False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.lstrip().startswith("```"):
                    fenced = not fenced
                    continue
                m = None if fenced else HEADING.match(line)
                if m:
                    base = anchor(m.group(2))
                    n = seen.get(base, 0)
                    seen[base] = n + 1
                    names.add(base if n == 0 else "%s-%d" % (base, n))
        cache[path] = names
    return cache[path]


def main():
    root = os.path.abspath(sys.argv[1])
    checked = broken = 0
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if not name.endswith(".md"):
                continue
            path = os.path.join(directory, name)
            fenced = False
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.lstrip().startswith("```"):
                        fenced = not fenced
                    if fenced:
                        continue
                    # Inline code is not a link.
                    text = re.sub(r"`[^`]*`", "", line)
                    for m in LINK.finditer(text):
                        target = m.group(1) or m.group(2)
                        checked += 1
                        problem = None
                        if re.match(r"^[a-z]+:", target):
                            if not target.startswith(("https:", "mailto:")):
                                problem = "not https"
                        else:
                            file_part, _, fragment = target.partition("#")
                            resolved = (os.path.normpath(os.path.join(directory, file_part))
                                        if file_part else path)
                            if not resolved.startswith(root + os.sep) and resolved != root:
                                problem = "outside the repository"
                            elif not os.path.exists(resolved):
                                problem = "no such file"
                            elif fragment and resolved.endswith(".md") and \
                                    fragment not in anchors(resolved):
                                problem = "no heading #%s" % fragment
                        if problem:
                            broken += 1
                            print("%s:%d: %s: %s" % (os.path.relpath(path, root), number,
                                                     target, problem))
    print("%d links checked" % checked)
    print("%d passed, %d failed" % (checked - broken, broken))
    return 0 if broken == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
