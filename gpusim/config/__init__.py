"""GPU configuration: typed specs (:mod:`.specs`) and the YAML loader (:mod:`.loader`)."""

from gpusim.config.loader import (
    config_from_dict,
    config_to_dict,
    dump_config,
    find_config,
    list_configs,
    load_config,
    validate_config,
)
from gpusim.config.specs import GPUConfig

__all__ = [
    "GPUConfig",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "find_config",
    "list_configs",
    "load_config",
    "validate_config",
]
