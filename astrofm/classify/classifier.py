"""The classifier a user works with: :class:`Classifier`."""

from __future__ import annotations

import copy

from astropy.table import Table

from astrofm.classify.config import Options
from astrofm.errors import ConfigError, TrainingError

__all__ = ["Classifier", "FEATURE_OPTIONS"]

#: Classifier options that decide a frozen backbone's features; heads that share the
#: features (:meth:`Classifier.with_head`) keep them.
FEATURE_OPTIONS = ("weights", "pooling", "backbone_options", "size")


class Classifier:
    """Galaxy (or any sky image) classification on top of a vision backbone.

    With ``tuning="frozen"`` the backbone runs once over each data set (its features are
    cached, see :meth:`embed`) and only the head trains, in seconds. With ``"lora"``,
    ``"partial"`` or ``"full"`` the backbone trains with the head, end to end, on
    PyTorch Lightning: checkpoints, early stopping and model selection use the
    validation split only, and the same code runs on a CPU or GPUs.

    Parameters
    ----------
    model : str or Backbone
        A backbone name (:func:`astrofm.backbones.list`) or a module built with
        :func:`astrofm.backbones.load`. A built module is trained in a copy unless the
        tuning is ``frozen``, which freezes it in place.
    head : {"linear", "mlp", "whitening", "knn"}
        See :mod:`astrofm.classify.heads`; ``whitening`` and ``knn`` need a frozen
        backbone.
    tuning : {"frozen", "lora", "partial", "full"}
        How much of the backbone trains, see :func:`astrofm.tuning.apply_tuning`.
    preprocessing : Step or dict, optional
        Applied to every image, in training and prediction (it replaces a data set's
        own transform). Default: :func:`astrofm.features.default_preprocessing` for the
        backbone at ``size``.
    **options
        See below; unknown names raise :class:`~astrofm.errors.UnknownNameError`.

    Other Parameters
    ----------------
    weights : "pretrained", path, None or "random"
        Backbone weights for a name: the published ones by default; None or
        ``"random"`` for a random initialisation (seeded with ``seed``), which is
        recorded in saved models and reports.
    backbone_options : dict
        Architecture options for :func:`astrofm.backbones.load` (``depth=2`` ...).
    size : int
        Input side of the default preprocessing.
    pooling : str
        Feature pooling (the backbone's default otherwise).
    hidden, dropout : tuple of int, float
        ``mlp`` head: hidden widths (512,) and dropout 0.
    whitening, eps : str, float
        ``whitening`` head: ``"zca"`` or ``"pca"``, regulariser 1e-2 (relative).
    k, temperature : int, float
        ``knn`` head: 20 neighbours, vote temperature 0.07.
    solver : {"fast", "paper", "adamw"}
        ``fast`` (frozen default): full-batch L-BFGS on standardised features.
        ``paper``: SGD (momentum 0.9), lr 5e-4, batches of 64, fixed epochs.
        ``adamw`` (end-to-end default): AdamW with a cosine schedule.
    epochs, lr, batch_size, weight_decay, max_iter : optional
        Training settings; defaults per strategy in :mod:`astrofm.classify.config`.
        ``weight_decay="auto"`` (fast solver) picks the L2 strength on validation.
    class_weights : bool
        Weight the loss by inverse class frequency, :math:`w_c = N / (K n_c)` (default
        True), see :func:`astrofm.classify.class_weights`.
    augment : bool
        Flips, 90-degree rotations and small shifts of training images (end-to-end
        default; not available with a frozen backbone, whose features are cached).
    val_fraction : float
        Share of each class taken from the training split for validation when ``fit``
        gets no ``val`` (0.1).
    blocks : int
        ``partial``: number of top blocks that train.
    lora_rank, lora_alpha, lora_dropout, lora_targets : optional
        ``lora``: rank 8, alpha 16, dropout 0, a regular expression of target modules.
    warmup_epochs : int
        ``full``: head-only epochs first (10 for trained weights, as in the paper; 0 from
        random weights, which hold no features to protect from a random head).
    layer_decay : float
        Layer-wise learning-rate decay, see :func:`astrofm.tuning.param_groups`.
    patience : int
        Early stopping after this many epochs without a better validation macro F1.
    memoize : bool
        Keep preprocessed training and validation images in memory between epochs
        (default: when they take at most 2 GiB).
    device, devices, precision : optional
        Lightning's ``accelerator``, ``devices`` per node (a count, -1 for all, or
        indices) and ``precision`` (``"bf16-mixed"`` ...).
    num_nodes : int
        Nodes (machines) of a multi-node job, e.g. under SLURM or ``torchrun`` (1).
    strategy : str
        Lightning's ``strategy`` (``"auto"``: DDP with more than one device). With
        several processes the script runs in each of them (Lightning's launcher, or
        ``torchrun``/``srun``); :meth:`fit` gives every process the same model and
        :meth:`save` writes the file once. A frozen backbone's processes share their
        features through ``features_cache``, which must then be on a file system they
        all reach.
    num_workers : int
        DataLoader workers.
    seed : int
        Seeds the backbone initialisation, the head, the validation split and the
        batch order.
    features_cache : str or path
        Folder where feature tables of a frozen backbone persist between runs.
    checkpoint_dir : str or path
        Where Lightning writes the best checkpoint (a temporary folder otherwise).
    progress : bool
        Show progress bars.
    semi : {"fixmatch", "pseudo-label"}, optional
        Semi-supervised training on ``fit(..., unlabeled=...)``, see
        :mod:`astrofm.classify.semi` (``pseudo-label`` only with a frozen backbone,
        whose head then self-trains on features).
    threshold, unlabeled_ratio, lambda_u : float, int, float
        ``semi``: confidence of a pseudo-label (0.95), unlabelled images per labelled
        image in a step (7; end to end only) and weight of the unlabelled loss (1).

    Attributes
    ----------
    classes : list of str
        Class names, after :meth:`fit`.
    backbone : Backbone
        The tuned backbone.
    tuning_report : astrofm.tuning.TuningReport
        What trains in the backbone.
    history : dict
        What the last :meth:`fit` reported (losses, validation scores, timings).

    Examples
    --------
    >>> train = ArrayDataset("mirabest_basic_train.npz")                  # doctest: +SKIP
    >>> clf = astrofm.Classifier("resnet18", tuning="full", size=64)       # doctest: +SKIP
    >>> clf.fit(train).evaluate(mark_test(ArrayDataset("..._test.npz")))  # doctest: +SKIP
    """

    def __init__(self, model, head: str = "linear", tuning: str = "frozen", preprocessing=None,
                 **options):
        from astrofm.features.adapt import default_preprocessing, resolve_model
        from astrofm.preprocess import from_dict

        given = Options.create(head, tuning, options)
        spec, built = resolve_model(model, given.weights)
        if built is not None and given.backbone_options:
            raise ConfigError("backbone_options= apply to a backbone name; a built backbone "
                              "already has its architecture.")
        if preprocessing is not None and given.size is not None:
            raise ConfigError("give either preprocessing= or size=, not both: size sets the "
                              "default preprocessing.")
        self.head_name, self.tuning = head, tuning
        self.options = given.resolve(head, tuning, built is not None or given.weights is not None)
        self._user_backbone = built is not None
        if isinstance(preprocessing, dict):
            preprocessing = from_dict(preprocessing)
        self.preprocessing = preprocessing or default_preprocessing(spec, size=given.size)
        self.backbone, self.tuning_report = self._tuned_backbone(spec, built)
        spec = self.backbone.spec
        self.pooling = self.options.pooling or spec.default_pooling
        if self.pooling not in spec.poolings or self.pooling == "tokens":
            raise ConfigError(f"pooling={self.pooling!r}: {spec.name!r} gives one vector per "
                              f"image with {[p for p in spec.poolings if p != 'tokens']}.")
        self.classes: list | None = None
        self.net = None
        self.history: dict = {}
        self._digest = None

    def _tuned_backbone(self, spec, built):
        from astrofm import backbones
        from astrofm.tuning import apply_tuning

        o = self.options
        if built is None:
            backbone = backbones.load(spec.name, weights=o.weights, seed=o.seed,
                                      **o.backbone_options)
        else:
            backbone = built if self.tuning == "frozen" else copy.deepcopy(built)
        report = apply_tuning(backbone, self.tuning, blocks=o.blocks, lora_rank=o.lora_rank,
                              lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout,
                              lora_targets_pattern=o.lora_targets)
        return backbone, report

    # ----------------------------------------------------------------- state
    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or loading) has given the classifier a trained head."""
        return self.net is not None

    @property
    def feature_dim(self) -> int:
        """Dimension of the pooled features the head reads."""
        return self.backbone.spec.feature_dim * (2 if self.pooling == "cls+mean" else 1)

    @property
    def digest(self) -> str:
        """Digest of the frozen backbone's parameters, the key of its cached features."""
        from astrofm.classify.features import backbone_digest

        if self._digest is None:
            self._digest = backbone_digest(self.backbone)
        return self._digest

    def _check_fitted(self):
        if not self.fitted:
            raise TrainingError("this classifier has not been trained; call fit(train) first "
                                "or load a saved one with astrofm.load(path).")

    def __repr__(self):
        classes = f", classes={self.classes}" if self.classes else ""
        return (f"Classifier({self.backbone.spec.name!r}, head={self.head_name!r}, "
                f"tuning={self.tuning!r}{classes})")

    def with_head(self, head: str, **options) -> Classifier:
        """A new, untrained classifier on this one's frozen backbone and its features.

        Heads, seeds and schedules compared on one frozen backbone share its parameters,
        its digest and hence its cached feature tables: nothing is rebuilt or embedded
        again.

        Parameters
        ----------
        head : str
            The new head.
        **options
            Options as for :class:`Classifier`, except those that decide the features
            (``weights``, ``backbone_options``, ``pooling``, ``size``), which stay.

        Returns
        -------
        Classifier
        """
        if self.tuning != "frozen":
            raise ConfigError(f"with_head shares a frozen backbone; this classifier's "
                              f"tuning={self.tuning!r} trains its own.")
        fixed = {"weights": self.options.weights, "pooling": self.pooling,
                 "backbone_options": self.options.backbone_options}
        clash = sorted(set(options) & set(FEATURE_OPTIONS))
        if clash:
            raise ConfigError(f"with_head: {clash} decide the features, which the new "
                              "classifier shares; build a Classifier to change them.")
        given = Options.create(head, "frozen", {**fixed, **options})
        clf = copy.copy(self)
        clf.head_name = head
        clf.options = given.resolve(head, "frozen", self._user_backbone or
                                    self.options.weights is not None)
        clf.net, clf.classes, clf.history = None, None, {}
        return clf

    # --------------------------------------------------------------- features
    def embed(self, data) -> Table:
        """Features of ``data`` from the frozen backbone, as :func:`astrofm.embed` gives.

        Tables are cached (in memory, and in ``features_cache`` when set), so a later
        :meth:`fit`, :meth:`predict` or :meth:`evaluate` on the same images, or on rows
        of the table, does not run the backbone again.

        Parameters
        ----------
        data : ImageDataset, path, array or list
            What :func:`astrofm.embed` accepts.

        Returns
        -------
        astropy.table.Table
            With ``meta["CLASSES"]`` when the data set names its classes, and marked as
            the test split when ``data`` is.
        """
        from astrofm.classify.features import classifier_features

        return classifier_features(self, data)

    # -------------------------------------------------------------------- fit
    def fit(self, train, val=None, unlabeled=None) -> Classifier:
        """Train on ``train``; select and stop on ``val`` (or a split of ``train``).

        Parameters
        ----------
        train : ImageDataset, Subset, feature Table or (inputs, labels)
            The training split, with labels. Must not be marked as the test split.
        val : same kinds, optional
            The validation split. By default a stratified ``val_fraction`` of each
            class of ``train`` (:func:`astrofm.data.train_val_split`, seeded).
        unlabeled : ImageDataset, Subset, path or list, optional
            Unlabelled images for semi-supervised training (needs the ``semi``
            option; see :mod:`astrofm.classify.semi`). Their content digests are kept
            in ``history["unlabeled_digests"]``, and :meth:`evaluate` refuses a test
            set that shares an image with them.

        Returns
        -------
        Classifier
            ``self``, fitted.

        Raises
        ------
        SplitError
            When ``train``, ``val`` or ``unlabeled`` is marked as the test split, is
            empty, or ``train`` holds a single class.
        ConfigError
            When ``semi`` is set without ``unlabeled``, or the reverse.
        DatasetError
            When labels are missing or do not match the images.
        """
        from astrofm.classify.fitting import fit_classifier

        fit_classifier(self, train, val, unlabeled)
        return self

    def predict(self, inputs) -> Table:
        """Class probabilities and labels of images.

        Parameters
        ----------
        inputs : path, array, list, ImageDataset or feature Table
            What :func:`astrofm.embed` accepts (a list is many images), or (frozen
            backbone) a table made by :meth:`embed`.

        Returns
        -------
        astropy.table.Table
            One row per image: ``source``, ``label`` (class code, -1 when the image
            could not be read), ``class_name``, ``probability`` ``(N, K)`` and
            ``error``; ``meta["CLASSES"]`` lists the class names.
        """
        from astrofm.classify.predictions import predict

        self._check_fitted()
        return predict(self, inputs)

    def evaluate(self, test, *, mark: bool = True):
        """Score the classifier on a labelled split.

        Parameters
        ----------
        test : ImageDataset, Subset, feature Table or (inputs, labels)
            The split to score; its class names must be among the classifier's.
        mark : bool
            Mark ``test`` as the test split (:func:`~astrofm.classify.mark_test`), so
            that a later ``fit`` refuses it. Pass False to score a validation split.

        Returns
        -------
        ClassificationReport
            Macro F1, per-class F1, precision and recall, balanced accuracy and the
            confusion matrix.
        """
        from astrofm.classify.predictions import evaluate

        self._check_fitted()
        return evaluate(self, test, mark=mark)

    # ------------------------------------------------------------------- save
    def save(self, path, *, backbone="auto"):
        """Write the classifier to one ``.astrofm`` file (safetensors), atomically.

        With several processes (``devices``, ``num_nodes``), call it in every one: once
        all have reached it, global rank 0 alone writes the file, and no process returns
        before the file is there (or before all raise rank 0's error).

        The file holds the backbone name, weights reference and build options, the
        tuning (LoRA settings included), the trained weights, the head, the class names
        and the exact preprocessing; ``astrofm.load(path)`` rebuilds it.

        Parameters
        ----------
        path : str or path
            Ends in ``.astrofm``.
        backbone : "auto", True or False
            Store the whole backbone. ``"auto"`` stores it when it trained (``full``,
            ``partial``) or cannot be rebuilt from a reference (random weights, a built
            module); otherwise the file refers to the weights (``"pretrained"`` or a
            file) and holds only what trained (LoRA adapters, head), with a digest of
            the backbone that loading checks.

        Returns
        -------
        pathlib.Path
        """
        from astrofm.classify.persist import save_classifier

        self._check_fitted()
        return save_classifier(self, path, backbone)

    @classmethod
    def from_saved(cls, config: dict, tensors: dict) -> Classifier:
        """Rebuild a classifier from what :meth:`save` wrote (used by ``astrofm.load``)."""
        from astrofm.classify.persist import load_classifier

        return load_classifier(cls, config, tensors)
