"""Semi-supervised fine-tuning: labelled batches plus confident pseudo-labels.

``Classifier(..., semi="fixmatch").fit(train, unlabeled=pool)`` trains on labelled
batches and, at the same time, on batches of ``unlabeled_ratio`` times as many
unlabelled images (:math:`\\mu`):

* **FixMatch** (Sohn et al. 2020): the model's prediction on a weak view (flips,
  90-degree rotations, small shifts: :class:`~astrofm.classify.augment.SkyAugment`)
  becomes a hard pseudo-label where its largest probability reaches ``threshold``
  :math:`\\tau`; the cross-entropy of the strong view
  (:class:`~astrofm.preprocess.augment.StrongAugment`: noise at the image's own rms,
  PSF-like blur, varied clip/stretch limits, random erasing, then the weak
  transforms) against it is the unlabelled loss,

  .. math:: \\ell = \\ell_s + \\lambda_u \\frac{1}{\\mu B} \\sum_b
            \\mathbb{1}[\\max p(y|w_b) \\ge \\tau]\\, H(\\hat y_b, p(y|s_b)).

* **Pseudo-label** (Lee 2013): the same, with the weak view as both the target and
  the prediction trained (no strong view).
* A **frozen** backbone has cached features and no views: its head self-trains
  (:func:`self_train`), refitted with the head's own solver on the labelled rows
  plus every unlabelled row whose prediction reaches :math:`\\tau` (the loop of
  scikit-learn's ``SelfTrainingClassifier``, which needs a scikit-learn estimator;
  astrofm's heads are torch modules fitted by :func:`~astrofm.classify.solvers.fit_head`).

The unlabelled images are fingerprinted by content
(:func:`astrofm.features.fingerprint.image_digests`) when ``fit`` starts; the digests
stay in ``history["unlabeled_digests"]`` (and in saved models), and
:meth:`Classifier.evaluate <astrofm.classify.Classifier.evaluate>` refuses a test set
that shares an image with them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from astrofm.classify.config import SEMI
from astrofm.classify.data import Labelled, is_feature_table, is_test
from astrofm.classify.module import ClassifierModule
from astrofm.errors import ConfigError, DatasetError, SplitError

__all__ = ["SEMI", "SemiModule", "Views", "masked_pseudo_label_loss", "prepare_unlabeled",
           "fit_semi", "unlabeled_dataset", "check_no_overlap", "check_unlabeled_features",
           "combined_loader", "self_train", "SELF_TRAINING_ROUNDS"]

#: Most refits of a frozen head's self-training (scikit-learn's default ``max_iter``).
SELF_TRAINING_ROUNDS = 10


def masked_pseudo_label_loss(target_logits, logits, threshold: float):
    """Cross-entropy of ``logits`` against confident hard pseudo-labels.

    Parameters
    ----------
    target_logits : torch.Tensor, (N, K)
        Logits whose softmax gives the pseudo-labels (no gradient flows through them).
    logits : torch.Tensor, (N, K)
        Logits trained towards the pseudo-labels.
    threshold : float
        Pseudo-labels whose probability is below it are masked out.

    Returns
    -------
    loss : torch.Tensor
        :math:`\\frac1N \\sum_i \\mathbb{1}[\\max_k p_{ik} \\ge \\tau] H(\\hat y_i, q_i)`:
        the mean over all N, masked samples counting as 0, as in FixMatch.
    mask : torch.Tensor of bool, (N,)
        Which samples got a pseudo-label.
    """
    confidence, pseudo = target_logits.detach().float().softmax(1).max(1)
    mask = confidence >= threshold
    loss = F.cross_entropy(logits, pseudo, reduction="none")
    return (loss * mask).mean(), mask


class Views:
    """Transform of an unlabelled image: its weak base view, and the strong view.

    The weak base view is the classifier's preprocessing (flips, rotations and shifts
    follow on the batch); with a strong augmentation the two ``(C, H, W)`` tensors
    are concatenated along channels, and :class:`SemiModule` splits them again.

    Parameters
    ----------
    preprocessing : Step
        The classifier's preprocessing.
    strong : StrongAugment, optional
        FixMatch's strong view; None for pseudo-labelling.
    """

    def __init__(self, preprocessing, strong=None):
        self.preprocessing, self.strong = preprocessing, strong

    def __call__(self, image):
        from astrofm.data.base import image_to_tensor

        weak = image_to_tensor(self.preprocessing(image))
        return weak if self.strong is None else torch.cat([weak, self.strong(image)])


class SemiModule(ClassifierModule):
    """:class:`~astrofm.classify.module.ClassifierModule` with an unlabelled loss.

    Training batches are dicts ``{"labelled": (x, y), "unlabelled": (u, _)}`` (see
    :func:`combined_loader`). Labelled, weak and strong images go through the network
    in one batch, so batch normalisation sees all of them, as in FixMatch.

    Parameters
    ----------
    net, n_classes, **settings
        As for :class:`ClassifierModule`.
    semi : {"fixmatch", "pseudo-label"}
        The method.
    threshold : float
        Confidence :math:`\\tau` of a pseudo-label.
    lambda_u : float
        Weight of the unlabelled loss.
    """

    def __init__(self, net, n_classes: int, *, semi: str, threshold: float, lambda_u: float,
                 **settings):
        from astrofm.classify.augment import SkyAugment

        super().__init__(net, n_classes, **settings)
        self.semi, self.threshold, self.lambda_u = semi, threshold, lambda_u
        self.weak = SkyAugment()
        self.epoch_history["pseudo_label_rate"] = []

    def training_step(self, batch, batch_idx):
        """The labelled loss plus ``lambda_u`` times the masked pseudo-label loss."""
        x, y = batch["labelled"]
        u = batch["unlabelled"][0]
        n, m = len(x), len(u)
        if self.semi == "fixmatch":
            c = u.shape[1] // 2
            views = [self.augment(x), self.weak(u[:, :c]), self.weak(u[:, c:])]
        else:
            views = [self.augment(x), self.weak(u)]
        logits = self.net(torch.cat(views)).float()
        parts = logits.split([n] + [m] * (len(views) - 1))
        # The last part is the strong view (FixMatch), or the weak view itself (Lee 2013).
        unlabelled, mask = masked_pseudo_label_loss(parts[1], parts[-1], self.threshold)
        labelled = parts[0]
        supervised = F.cross_entropy(labelled, y, weight=self.weight)
        loss = supervised + self.lambda_u * unlabelled
        for name, value in (("train_loss", loss), ("train_unlabelled_loss", unlabelled),
                            ("pseudo_label_rate", mask.float().mean())):
            self.log(name, value, on_step=False, on_epoch=True, prog_bar=name == "train_loss",
                     batch_size=n)
        return loss


def prepare_unlabeled(semi, unlabeled):
    """Check ``fit``'s unlabelled set against the ``semi`` option, before any compute.

    Returns
    -------
    dataset : ImageDataset or None
        The unlabelled images (None without them).
    digests : list of str or None
        Their sorted distinct content digests; computing them reads every image, so
        an unreadable file is found before training starts.

    Raises
    ------
    ConfigError
        When ``semi`` is set without ``unlabeled``, or the reverse.
    """
    from astrofm.features.fingerprint import image_digests

    if (unlabeled is None) != (semi is None):
        raise ConfigError("fit(unlabeled=...) needs the classifier option semi='fixmatch' or "
                          "'pseudo-label', and semi= needs fit(..., unlabeled=images); give "
                          "both, or neither for supervised training.")
    if unlabeled is None:
        return None, None
    dataset = unlabeled_dataset(unlabeled)
    return dataset, sorted(set(image_digests(dataset)))


def fit_semi(clf, items: Labelled, y, val_items: Labelled, yv, unlabeled):
    """Semi-supervised fit: end to end (:class:`SemiModule`) or self-training (frozen).

    Returns
    -------
    net : ClassifierNet
    history : dict
    """
    from astrofm.classify.fitting import fit_end_to_end

    if clf.tuning != "frozen":
        return fit_end_to_end(clf, items, y, val_items, yv, unlabeled)
    table = clf.embed(unlabeled)
    check_unlabeled_features(table)
    return self_train(clf, items, y, val_items, yv, Labelled(table, None, items.classes))


def unlabeled_dataset(unlabeled):
    """The unlabelled set as a data set, refused when it cannot be fingerprinted or is the test.

    Parameters
    ----------
    unlabeled : ImageDataset, Subset, path or list
        What :func:`astrofm.embed` accepts (any data set, or files astrofm reads).

    Raises
    ------
    SplitError
        When it is marked as the test split.
    ConfigError
        For a feature table: its images cannot be checked against the test set.
    """
    from astrofm.features import as_dataset

    if is_feature_table(unlabeled):
        raise ConfigError("unlabeled= takes images (a data set or a list of files), not a "
                          "feature table: the images are checked against the test set by "
                          "their pixels. Pass the images the table was embedded from.")
    if is_test(unlabeled):
        raise SplitError("unlabeled= is marked as the test split; the test images must never "
                         "train a model. Pass images that are not in the test split.")
    dataset = as_dataset(unlabeled)
    if len(dataset) == 0:
        raise SplitError("unlabeled= holds no images; give a non-empty unlabelled set.")
    return dataset


def check_no_overlap(unlabeled_digests, test, where: str = "test") -> None:
    """Refuse a test set sharing an image (same pixels) with the unlabelled set.

    Parameters
    ----------
    unlabeled_digests : iterable of str
        :func:`~astrofm.features.fingerprint.image_digests` of the unlabelled images.
    test : ImageDataset or Subset
        The test images.
    where : str
        The test argument's name, for the message.

    Raises
    ------
    SplitError
        Naming a shared image.
    """
    from astrofm.features.fingerprint import image_digests

    known = set(unlabeled_digests)
    shared = [s for h, s in zip(image_digests(test), test.sources, strict=True) if h in known]
    if shared:
        raise SplitError(f"{where}: {len(shared)} test image(s) are also in the unlabelled set "
                         f"the classifier trained on (same pixels), e.g. {shared[0]}; remove "
                         "them from the unlabelled set and train again, so that the test "
                         "scores are honest.")


def combined_loader(labelled_loader, unlabeled_items, options):
    """Labelled batches with unlabelled batches ``unlabeled_ratio`` times as large.

    An epoch runs until the longer of the two loaders ends; the shorter one starts
    again (Lightning's ``max_size_cycle``).
    """
    from lightning.pytorch.utilities import CombinedLoader
    from torch.utils.data import DataLoader

    unlabelled = DataLoader(unlabeled_items, batch_size=options.batch_size *
                            options.unlabeled_ratio, shuffle=True,
                            num_workers=options.num_workers,
                            generator=torch.Generator().manual_seed(options.seed + 1),
                            persistent_workers=options.num_workers > 0,
                            pin_memory=torch.cuda.is_available())
    return CombinedLoader({"labelled": labelled_loader, "unlabelled": unlabelled},
                          mode="max_size_cycle")


def self_train(clf, items: Labelled, y, val_items: Labelled, yv, unlabeled: Labelled):
    """Self-training of a frozen backbone's head on feature tables.

    The head is fitted on the labelled rows; every unlabelled row whose largest
    predicted probability reaches ``threshold`` joins the training rows with its
    predicted class (kept from then on), and the head is fitted again, until no row
    joins or after :data:`SELF_TRAINING_ROUNDS` fits.

    Returns
    -------
    net : ClassifierNet
    history : dict
        The last fit's history, with ``pseudo_labelled``: the pseudo-labelled rows each
        fit trained on.
    """
    from astropy.table import Table

    from astrofm.classify.fitting import fit_on_features

    x = np.asarray(items.data["feature"], dtype=np.float32)
    xu = np.asarray(unlabeled.data["feature"], dtype=np.float32)
    pseudo = np.full(len(xu), -1, dtype=np.int64)
    counts = []
    for _ in range(SELF_TRAINING_ROUNDS):
        take = pseudo >= 0
        rows = Labelled(Table({"feature": np.concatenate([x, xu[take]])}), None, items.classes)
        net, history = fit_on_features(clf, rows, np.concatenate([y, pseudo[take]]),
                                       val_items, yv)
        counts.append(int(take.sum()))
        with torch.no_grad():
            confidence, label = net.classify(torch.from_numpy(xu)).softmax(1).max(1)
        new = (confidence.numpy() >= clf.options.threshold) & (pseudo < 0)
        if not new.any():
            break
        pseudo[new] = label.numpy()[new]
    return net, {**history, "pseudo_labelled": counts}


def check_unlabeled_features(table, where: str = "unlabeled") -> None:
    """Refuse unlabelled images that could not be read (their features are NaN)."""
    from astrofm.features.embed import failed_rows

    bad = failed_rows(table)
    if len(bad):
        raise DatasetError(f"{where}: {len(bad)} images could not be read or preprocessed "
                           f"(first: {[str(table['source'][i]) for i in bad[:3]]}); remove "
                           "them from the unlabelled set.")
