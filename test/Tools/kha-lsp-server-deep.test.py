"""Writes the -lit-test messages of kha-lsp-server-deep.test: initialize, a
document of 20000 nested modules, a shutdown request."""
import json

messages = [
    {"jsonrpc": "2.0", "id": 0, "method": "initialize",
     "params": {"processId": 123, "rootPath": "kha", "capabilities": {}, "trace": "off"}},
    {"jsonrpc": "2.0", "method": "textDocument/didOpen",
     "params": {"textDocument": {"uri": "test:///deep.mlir", "languageId": "mlir", "version": 1,
                                 "text": "module {\n" * 20000 + "}\n" * 20000}}},
    {"jsonrpc": "2.0", "id": 3, "method": "shutdown"},
    {"jsonrpc": "2.0", "method": "exit"},
]
print("\n// -----\n".join(json.dumps(m) for m in messages))
