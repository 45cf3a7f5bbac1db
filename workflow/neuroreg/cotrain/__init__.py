"""Stage 5: joint training of a CIFAR ResNet with the neural similarity loss (Eq. 7-10).

Modules: :mod:`.resnet` (the network, with its feature layers), :mod:`.similarity_loss`
(Eq. 8-10), :mod:`.data` (data resident on the device, GPU augmentation), :mod:`.train`
(the recipe of section 4.1, checkpoints and resume), :mod:`.device` (one GPU per job),
:mod:`.summary` (Table 1 of the supplement).
"""
