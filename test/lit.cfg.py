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
config.substitutions.append(("%kha_tools", config.kha_tools_dir))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Variables captured in one CHECK-LABEL block stay in it.
config.environment["FILECHECK_OPTS"] = "-enable-var-scope"

tool_dirs = [config.kha_tools_dir, config.llvm_tools_dir]
tools = ["kha-opt", "kha-translate"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
llvm_config.with_environment("PATH", config.kha_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
