"""What the rules of stage 1 (``workflow/rules/data.smk``) run, one function per rule.

Each takes the rule's ``snakemake`` object (``input``, ``output``, ``params``, ``wildcards``, ``log``)
and is called by the rule's script in ``workflow/scripts/``. To run one by hand, ask Snakemake for
its output, e.g. ``snakemake --cores 1 results/default/scans/v1_a1_s1.h5 --forcerun simulate_scan``.
"""

from __future__ import annotations

from ..logs import job
from . import cifar, registry, stimuli, virtual_scan


@job
def prepare_cifar(smk) -> None:
    """CIFAR-10 / CIFAR-100 (python layout folder or tar.gz) -> results/data/{dataset}.h5 (grayscale)."""
    cifar.prepare_cifar(smk.input[0], smk.output[0], dataset=smk.wildcards.dataset,
                        n_validation=smk.params.n_validation)


@job
def stimulus_bank(smk) -> None:
    """Photos (folder or zip) -> results/data/stimuli.h5: grayscale stimuli chosen with the seed."""
    s = smk.params.stimuli
    stimuli.make_stimulus_bank(smk.input[0], smk.output[0], n_images=int(s["n_images"]), n_oracle=int(s["n_oracle"]),
                               height=int(s["height"]), width=int(s["width"]), seed=int(smk.params.seed))


@job
def simulate_scan(smk) -> None:
    """The virtual V1 experiment on the stimulus bank -> results/scans/{scan}.h5 (+ ground truth).

    BLAS threads: Snakemake sets ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` to the rule's
    ``threads`` (1) before the script starts, so the noise draws do not depend on the machine.
    """
    spec = smk.params.scan
    virtual_scan.simulate_scan_file(smk.input.stimuli, smk.output[0], scan_name=smk.wildcards.scan,
                                    animal=spec["animal"], session=spec["session"], virtual_v1=smk.params.virtual_v1,
                                    repeats=smk.params.repeats, seed=smk.params.seed)


@job
def ingest_recording(smk) -> None:
    """A recorded scan (static_h5, sensorium, antolik2016) -> results/scans/{scan}.h5."""
    registry.ingest(dict(smk.params.recording), smk.output[0], min_repeats=int(smk.params.min_repeats))
