"""Photos (folder or zip) -> results/data/stimuli.h5: grayscale stimuli chosen with the seed.

Outside snakemake: python workflow/scripts/stimulus_bank.py ../shared/data/tiny-imagenet-200-val.zip out.h5
(default sizes: 5000 once-shown + 100 oracle images, 36 x 64, seed 2019).
"""

import sys
from types import SimpleNamespace

if "snakemake" not in globals():  # run by hand: source output [log]
    snakemake = SimpleNamespace(input=[sys.argv[1]], output=[sys.argv[2]], log=sys.argv[3:4] or [None],
                                params=SimpleNamespace(stimuli=dict(n_images=5000, n_oracle=100, height=36, width=64),
                                                       seed=2019))

from neuroreg import logs  # noqa: E402

log = logs.setup(snakemake.log[0])

from neuroreg.ingest.stimuli import make_stimulus_bank  # noqa: E402

stimuli = snakemake.params.stimuli
make_stimulus_bank(
    snakemake.input[0],
    snakemake.output[0],
    n_images=int(stimuli["n_images"]),
    n_oracle=int(stimuli["n_oracle"]),
    height=int(stimuli["height"]),
    width=int(stimuli["width"]),
    seed=int(snakemake.params.seed),
)
