# -*- Python -*-
# lit configuration for the kha regression tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "KHA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "malformed-inputs.test.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kha_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%kha_src", config.kha_src_root))
config.substitutions.append(("%examples", os.path.join(config.kha_src_root, "examples")))
config.substitutions.append(("%python", config.kha_python))
config.environment["PYTHONPATH"] = os.path.join(config.kha_src_root, "python")
config.substitutions.append(("%kha_tools", config.kha_tools_dir))
config.substitutions.append(("%kha_version", config.kha_version))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Variables captured in one CHECK-LABEL block stay in it.
config.environment["FILECHECK_OPTS"] = "-enable-var-scope"
# Compiled CPU libraries run on OpenMP threads; lit runs tests side by side,
# so waiting threads sleep instead of spinning on the cores the others need.
config.environment["OMP_WAIT_POLICY"] = "passive"

tool_dirs = [config.kha_tools_dir, config.llvm_tools_dir]
tools = ["kha-opt", "kha-translate", "kha-compile", "kha-run", "kha-lsp-server"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
llvm_config.with_environment("PATH", config.kha_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# The plugin for stock mlir-opt-22 (Debian names it with a suffix).
config.substitutions.append(("%kha_plugin", os.path.join(config.kha_obj_root, "lib", "libKHAPlugin.so")))
mlir_opt = os.path.join(config.llvm_tools_dir, "mlir-opt")
config.substitutions.append(("%mlir_opt", mlir_opt if os.path.exists(mlir_opt) else "mlir-opt-22"))

# A shared library that is not a kha library, for kha-run's error tests.
for candidate in ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                  "/lib64/libm.so.6", "/usr/lib64/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6"]:
    if os.path.exists(candidate):
        config.substitutions.append(("%libm", candidate))
        break

# A CUDA driver on this machine (a GPU machine): tests of the no-driver path
# are unsupported there.
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
