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


# The stages `rule all` builds (config key `stages`; e.g. the Antolik recordings have no
# once-shown images, so their config stops after reliability). Each rule file registers
# the final outputs of its stage with `final_outputs(stage, paths)`.
ALL_STAGES = ["data", "reliability", "encoder", "similarity", "cotrain", "robustness", "figures"]
STAGES = config.get("stages", ALL_STAGES)
FINAL_OUTPUTS = []


def final_outputs(stage, paths):
    """Add `paths` to what `rule all` builds when `stage` is among config['stages']."""
    assert stage in ALL_STAGES, stage
    if stage in STAGES:
        FINAL_OUTPUTS.extend([paths] if isinstance(paths, str) else list(paths))


def all_outputs():
    return FINAL_OUTPUTS
