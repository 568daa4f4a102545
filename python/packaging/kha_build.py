"""The PEP 517 build backend of `pip install .` (see pyproject.toml).

Builds the C API library and kha's CUDA runtime archive with the project's own
CMake build (the build directory $KHA_BUILD_DIR, else build/ in the source tree;
configured by scripts/build.sh when it has not been), then writes a wheel of
the `kha` package with both under kha/_lib/lib, where the package (and the
compiler inside the library, for CUDA targets) finds them. The wheel is
tagged for this platform and any Python 3: the bindings use ctypes, not the
Python C API. It needs nothing from the package index.
"""

import base64
import hashlib
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "kha"
TAG = "py3-none-linux_x86_64"
LIBRARIES = ["libKHACAPI.so", "libKHACudaRuntime.a"]


def _version():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        for line in f:
            if line.startswith("version"):
                return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("no version in pyproject.toml")


def _build_libraries():
    """The libraries' paths, built (or found up to date) in the build tree."""
    build = os.environ.get("KHA_BUILD_DIR", os.path.join(ROOT, "build"))
    targets = ["KHACAPI", "KHACudaRuntime"]
    if os.path.exists(os.path.join(build, "build.ninja")):
        cmd = ["ninja", "-C", build, "-j2", *targets]
    else:
        if "KHA_BUILD_DIR" in os.environ:
            raise RuntimeError("KHA_BUILD_DIR=%s is not a configured kha build" % build)
        cmd = [os.path.join(ROOT, "scripts", "build.sh"), *targets]
    print("kha: building the C API: %s" % " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    paths = [os.path.join(build, "lib", name) for name in LIBRARIES]
    for path in paths:
        if not os.path.exists(path):
            raise RuntimeError("the build did not produce %s" % path)
    return paths


def _metadata(version):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Python bindings of kha, a compiler for knocking-heads attention (MLIR)\n"
            "Requires-Python: >=3.9\nRequires-Dist: numpy\n"
            "Provides-Extra: torch\nRequires-Dist: torch; extra == \"torch\"\n"
            "Description-Content-Type: text/markdown\n\n%s" % (NAME, version, readme))


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    libraries = _build_libraries()
    files = []  # (arcname, bytes)
    package = os.path.join(ROOT, "python", NAME)
    for name in sorted(os.listdir(package)):
        if name.endswith(".py"):
            with open(os.path.join(package, name), "rb") as f:
                files.append(("%s/%s" % (NAME, name), f.read()))
    for path in libraries:
        with open(path, "rb") as f:
            files.append(("%s/_lib/lib/%s" % (NAME, os.path.basename(path)), f.read()))
    info = "%s-%s.dist-info" % (NAME, version)
    files.append((info + "/METADATA", _metadata(version).encode()))
    files.append((info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: kha_build\n"
                                    "Root-Is-Purelib: false\nTag: %s\n" % TAG).encode()))
    record = [_record_line(arcname, data) for arcname, data in files]
    record.append(info + "/RECORD,,")
    files.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    wheel_name = "%s-%s-%s.whl" % (NAME, version, TAG)
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as wheel:
        for arcname, data in files:
            entry = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
            entry.external_attr = (0o755 if arcname.endswith(".so") else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []
