"""Rule `fig1c`: histograms of Delta S^scan (Eq. 4) and Delta S^repeat (Eq. 5) (Fig. 1C)."""

from neuroreg import logs
from neuroreg.figures.reliability import plot_fluctuations
from neuroreg.reliability.io import pooled_delta_repeat, read_fluctuations

log = logs.setup(snakemake.log[0])  # noqa: F821
fl = read_fluctuations(snakemake.input.h5)  # noqa: F821
group = fl["scans"] if fl["delta_scan"].size else list(fl["delta_repeat"])
repeat = pooled_delta_repeat(fl)
note = (f"scans: {', '.join(group)}; {len(fl['image_id'])} shared images" if fl["delta_scan"].size
        else "no two scans share oracle images: Eq. 4 undefined")
plot_fluctuations(fl["delta_scan"], repeat, snakemake.output.png, note=note)  # noqa: F821
log.info("SD Delta S^scan %.4f, SD Delta S^repeat %.4f (%s)",
         fl["delta_scan"].std() if fl["delta_scan"].size else float("nan"), repeat.std(), note)
