"""Rule ingest_recording: a recorded scan (static_h5, sensorium, antolik2016) -> results/scans/{scan}.h5.

Outside snakemake: python workflow/scripts/ingest_recording.py SOURCE PATH OUTPUT [--min-repeats N]
"""

from neuroreg import logs

if "snakemake" in globals():
    log = logs.setup(snakemake.log[0])  # noqa: F821
    from neuroreg.ingest.registry import ingest

    ingest(dict(snakemake.params.recording), snakemake.output[0],  # noqa: F821
           min_repeats=int(snakemake.params.get("min_repeats", 2)))  # noqa: F821
elif __name__ == "__main__":
    import argparse

    from neuroreg.ingest.registry import SOURCES, ingest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", choices=SOURCES)
    ap.add_argument("path")
    ap.add_argument("output")
    ap.add_argument("--min-repeats", type=int, default=2)
    args = ap.parse_args()
    log = logs.setup(None)
    ingest({"source": args.source, "path": args.path}, args.output, min_repeats=args.min_repeats)
