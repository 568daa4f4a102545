"""Writes seeded inputs of a layer configuration as DIR/<name>.npy.

usage: make_inputs.py CONFIG.json DIR BATCH SEQ_LEN [SEED [CAPACITY CACHE_LENGTH]]
"""
import sys

from kha.config import LayerConfig
from kha.inputs import make_inputs, save_inputs

config = LayerConfig.load(sys.argv[1])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
cache = {}
if len(sys.argv) > 7:
    cache = dict(capacity=int(sys.argv[6]), cache_length=int(sys.argv[7]))
save_inputs(make_inputs(config, int(sys.argv[3]), int(sys.argv[4]), seed, **cache), sys.argv[2])
