"""How a :class:`~astrofm.detect.Detector` trains: checks, the box prior, the split, the loop.

:meth:`Detector.fit <astrofm.detect.Detector.fit>` documents the options and calls
:func:`fit_detector`, which checks them before any compute, builds the network on the
first fit from the boxes of the training set (:func:`~astrofm.detect.anchors.box_prior`),
records the training fields' statistics (:mod:`astrofm.detect.domain`), and runs
:func:`~astrofm.detect.module.fit_network` on Lightning.
"""

from __future__ import annotations

import numpy as np

from astrofm.detect.anchors import box_prior
from astrofm.detect.datasets import boxes_of, detection_set, with_transform
from astrofm.errors import DatasetError

__all__ = ["fit_detector"]


def fit_detector(detector, train, val, *, epochs, batch_size, lr, weight_decay, layer_decay,
                 warmup, val_fraction, seed, num_workers, device, devices, num_nodes, strategy,
                 precision, checkpoint_dir, resume, progress, max_steps, val_every, augment):
    """Train ``detector`` in place, as :meth:`Detector.fit <astrofm.detect.Detector.fit>`
    describes; the arguments are that method's.

    Returns
    -------
    Detector
        ``detector``, trained, with its ``history`` and without a calibration.
    """
    import lightning.pytorch as pl

    from astrofm.data import subset, train_val_split
    from astrofm.detect.augment import augmented, check_augment
    from astrofm.detect.domain import training_statistics
    from astrofm.detect.module import fit_network
    from astrofm.runtime import check_loop, non_negative_float, positive_float, positive_int

    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    positive_float(lr, "lr")
    non_negative_float(weight_decay, "weight_decay")
    augment = check_augment(augment)
    placement = {"device": device, **check_loop(
        device=device, precision=precision, num_workers=num_workers, devices=devices,
        num_nodes=num_nodes, strategy=strategy)}
    train = detection_set(train, "train")
    boxes, labels = zip(*(boxes_of(train, i) for i in range(len(train))), strict=True)
    if detector.network is None and detector._own_classes:
        detector.classes = list(getattr(train, "classes", None) or detector.classes)
    top = max((int(max(lab)) for lab in labels if len(lab)), default=0)
    if top > len(detector.classes):
        raise DatasetError(f"train: the boxes have {top} classes but the detector knows "
                           f"{len(detector.classes)} ({detector.classes}); pass classes= "
                           "with every category name.")
    pl.seed_everything(seed, verbose=False)
    if detector.network is None:
        detector._build(box_prior(np.concatenate(boxes), min_patches=detector.min_patches,
                                  **detector._fixed))
    elif not any(len(b) for b in boxes):
        raise DatasetError("train: the training images hold no boxes; there is no source "
                           "to learn from.")
    fields = training_statistics(train)
    train = with_transform(train, detector.preprocessing)
    if val is None:
        fit_idx, val_idx = train_val_split(train, val_fraction, seed)
        train, val = subset(train, fit_idx), subset(train, val_idx)
    else:
        val = with_transform(detection_set(val, "val"), detector.preprocessing)
    detector.history = fit_network(
        detector.network, augmented(train, detector.preprocessing, augment, seed), val,
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        layer_decay=layer_decay, warmup=warmup, seed=seed,
        num_workers=num_workers, placement=placement, precision=precision,
        checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
        max_steps=max_steps, val_every=val_every)
    detector.history["fields"] = fields
    detector.history["augment"] = None if augment is None else augment.config()
    detector.calibration = None  # the scores it mapped were those of the old weights
    detector.network.cpu().eval()
    return detector
