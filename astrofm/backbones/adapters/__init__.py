"""Glue between :class:`~astrofm.backbones.Backbone` and each model library.

One module per library and model kind: :mod:`.timm_vit` (timm vision transformers),
:mod:`.timm_cnn` (timm convolutional networks, used by plugins such as astrofm-zoobot),
:mod:`.hf_vit` (transformers vision transformers) and :mod:`.torchvision_cnn`
(torchvision ResNets). Each offers a ``build(spec, weights, **options)`` function that a
spec's builder calls, and the :class:`~astrofm.backbones.Backbone` subclass it returns.
"""
