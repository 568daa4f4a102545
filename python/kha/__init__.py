"""kha: Python side of the knocking-heads attention compiler.

- kha.config: layer configurations (contract.md section 1)
- kha.reference: the float64 PyTorch reference of a layer
"""
