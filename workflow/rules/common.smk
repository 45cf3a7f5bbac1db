# Shared by every rule file: config validation, the list of scans, small helpers.
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")


VIRTUAL_SCANS = list(config["virtual_v1"]["scans"])
RECORDED_SCANS = list(config["recordings"])
SCANS = VIRTUAL_SCANS + RECORDED_SCANS

if len(set(SCANS)) != len(SCANS):
    raise ValueError(
        f"config.yaml: virtual_v1.scans and recordings share scan names: "
        f"{sorted(set(VIRTUAL_SCANS) & set(RECORDED_SCANS))}"
    )
if not SCANS:
    raise ValueError("config.yaml: no scans: add virtual_v1.scans or recordings")


wildcard_constraints:
    scan="|".join(SCANS) if SCANS else "NO_SCANS",


def data_path(key):
    """A path from config['data'], checked for existence so a typo fails at parse time."""
    value = config["data"].get(key)
    if value is None:
        raise ValueError(f"config.yaml: data.{key} is not set")
    if not Path(value).exists():
        raise ValueError(f"config.yaml: data.{key}: path does not exist: {value}")
    return value


def recording(scan):
    return config["recordings"][scan]


def scans_share_images():
    """True when every scan saw the same stimuli (Eq. 4 needs that)."""
    return len(SCANS) > 1


# Each rule file appends the final outputs of its stage; `rule all` asks for all of them.
FINAL_OUTPUTS = ["results/data/cifar10.h5"]


def all_outputs():
    return FINAL_OUTPUTS
