"""Layer configurations at a fixed size, for the benchmarks."""

import json
import os


def fixed_size_config(config_path, batch, seq_len, directory):
    """The configuration at `config_path` with B and L fixed, written into
    `directory`: (its name, the new file's path, the kha.config.LayerConfig)."""
    from kha.config import LayerConfig
    name = os.path.splitext(os.path.basename(config_path))[0]
    with open(config_path) as f:
        raw = json.load(f)
    raw["batch"], raw["seq_len"] = batch, seq_len
    path = os.path.join(directory, name + ".json")
    with open(path, "w") as f:
        json.dump(raw, f)
    return name, path, LayerConfig.load(path)
