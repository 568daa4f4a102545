"""kha: Python side of the knocking-heads attention compiler.

The PyTorch reference, the frontend and the bindings live here as they are built.
"""
