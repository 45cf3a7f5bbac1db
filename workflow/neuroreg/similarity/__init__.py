"""Stage 4, similarity targets (Eq. 2, 6): the n x n matrices co-training regularizes towards.

* :mod:`.matrix`: S = mean over scans of E E^T, written block by block to HDF5, read back, checked;
* :mod:`.targets`: the unit vectors of each target (neural_model, neural_data, ground_truth,
  shuffle) and the oracle-image comparison of Fig. 1B, 1D;
* :mod:`.vgg`: the VGG19 conv3_1 control target;
* :mod:`.jobs`: what the rules of ``workflow/rules/similarity.smk`` run.
"""
