"""Stage 1, inputs: everything later stages read, in canonical files.

* :mod:`.scan`: the canonical scan file ``results/scans/{scan}.h5`` (schema, read, write, validate);
* :mod:`.registry`: recorded scans, one reader per source (:data:`.registry.SOURCES`), and
  :mod:`.trials` (what the trial-based readers share), :mod:`.static_h5`, :mod:`.sensorium`,
  :mod:`.antolik2016`;
* :mod:`.virtual_v1` (the simulated population) and :mod:`.virtual_scan` (one simulated scan):
  the virtual V1 experiment, the default data, a source of scans like the recordings;
* :mod:`.stimuli`: the stimulus bank of photos; :mod:`.cifar`: CIFAR-10/100 to grayscale HDF5,
  and the one reader of that file;
* :mod:`.jobs`: what the rules of ``workflow/rules/data.smk`` run.
"""
