"""Writes seeded inputs of a layer configuration as DIR/<name>.npy.

usage: make_inputs.py CONFIG.json DIR BATCH SEQ_LEN [SEED]
"""
import sys

from kha.config import LayerConfig
from kha.inputs import make_inputs, save_inputs

config = LayerConfig.load(sys.argv[1])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
save_inputs(make_inputs(config, int(sys.argv[3]), int(sys.argv[4]), seed), sys.argv[2])
