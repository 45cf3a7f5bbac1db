# The run's path variables: <results> is results/<run>/, <logs> and <benchmarks> below it (neuroreg.grid).
# Included by the Snakefile after its min_version check (a Snakemake before 9.12 cannot parse `pathvars:`).


pathvars:
    **grid.pathvars(config),
