"""CIFAR-10 / CIFAR-100 (python layout folder or tar.gz) -> results/data/{dataset}.h5 (grayscale).

Outside snakemake: python workflow/scripts/prepare_cifar.py cifar10 ../shared/data/cifar-10-batches-py out.h5
"""

import sys
from types import SimpleNamespace

if "snakemake" not in globals():  # run by hand: dataset input output [log]
    dataset, source, output = sys.argv[1:4]
    snakemake = SimpleNamespace(wildcards=SimpleNamespace(dataset=dataset), input=[source], output=[output],
                                log=sys.argv[4:5] or [None])

from neuroreg import logs  # noqa: E402

log = logs.setup(snakemake.log[0])

from neuroreg.ingest.cifar import prepare_cifar  # noqa: E402

prepare_cifar(snakemake.input[0], snakemake.output[0], dataset=snakemake.wildcards.dataset)
