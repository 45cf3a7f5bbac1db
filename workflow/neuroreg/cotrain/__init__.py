"""Stage 5: joint training of a CIFAR ResNet with the neural similarity loss (Eq. 7-10).

Modules: :mod:`.resnet` (the network, with its feature layers), :mod:`.similarity_loss`
(Eq. 8-10), :mod:`.data` (data resident on the device, augmentation there), :mod:`.train`
(the recipe of section 4.1, checkpoints and resume), :mod:`.stacked` (several runs trained as
one vmap-ed network), :mod:`.outputs` (a run's files, Table 1 of the supplement), :mod:`.jobs`
(what the rules of ``workflow/rules/cotrain.smk`` run). GPU claims: :mod:`neuroreg.devices`.
"""
