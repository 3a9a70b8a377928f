"""``astrofm.pretrain``: continue self-supervised training of a backbone on sky images."""

from __future__ import annotations

import logging
from pathlib import Path

from astrofm.errors import ConfigError

__all__ = ["pretrain"]

log = logging.getLogger("astrofm.pretrain")

_LAST = "last.ckpt"


def _check(tuning, epochs, batch_size, lr, weight_decay, output, checkpoint_dir, resume):
    from astrofm.pretrain.config import TUNINGS
    from astrofm.runtime import check_writable, non_negative_float, positive_float, positive_int

    if tuning not in TUNINGS:
        raise ConfigError(f"tuning={tuning!r}: pretraining trains the whole backbone ('full') "
                          f"or LoRA adapters merged into it afterwards ('lora').")
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    positive_float(lr, "lr")
    non_negative_float(weight_decay, "weight_decay")
    if Path(output).suffix != ".safetensors":
        raise ConfigError(f"output={output}: pretrain writes a .safetensors weights file; "
                          f"give a name ending in .safetensors.")
    check_writable(output, "output")
    if resume and checkpoint_dir is None:
        raise ConfigError("resume=True needs checkpoint_dir=, the folder of the checkpoints "
                          "a previous run wrote.")
    if checkpoint_dir is not None:
        check_writable(Path(checkpoint_dir) / _LAST, "checkpoint_dir")


def pretrain(unlabeled, model: str, method: str = "dino", *, output, tuning: str = "full",
             epochs: int = 100, weights="pretrained", size: int | None = None,
             preprocessing=None,
             batch_size: int = 64, lr: float = 1e-4, weight_decay: float = 0.04,
             checkpoint_dir=None, resume: bool = False, backbone_options: dict | None = None,
             lora_rank: int = 8, lora_alpha: float = 16, num_workers: int = 0,
             device="auto", devices="auto", num_nodes: int = 1, strategy="auto",
             precision=None, progress: bool = True, seed: int = 0, hdu=None,
             **options):
    """Continue self-supervised training of a registered backbone on unlabelled images.

    The losses, heads and masking are lightly's; the loop is Lightning's, so the run
    scales like every astrofm loop and shows the loss in its progress bar. Labels of
    the inputs, if any, are never read.

    Parameters
    ----------
    unlabeled : sequence, path, Table or ImageDataset
        Images as :func:`astrofm.embed` takes them (files, a catalogue, a data set).
    model : str
        Registry name of the backbone.
    method : {"dino", "mae"}
        ``dino``: self-distillation with a momentum teacher on global and local views,
        for any ViT or CNN. ``mae``: masked autoencoding, continuing a timm ViT such as
        the mae family; masking is on only during pretraining.
    output : str or path
        The ``.safetensors`` file to write (atomically): the backbone's weights, in the
        form ``astrofm.backbones.load(model, weights=output, **backbone_options)`` reads.
    tuning : {"full", "lora"}
        Train every parameter, or LoRA adapters (:func:`astrofm.tuning.apply_tuning`)
        that are merged into the weights before saving.
    epochs : int
        Passes over the images (in total, counting a resumed run's earlier epochs).
    weights : "pretrained", path, None or "random"
        Starting weights, as for :func:`astrofm.backbones.load`.
    size : int, optional
        Side of the global views; the backbone's default input size when omitted.
    preprocessing : Step, optional
        What turns an image into the tensor the views are cut from, instead of
        ``default_preprocessing(model, size=size)``; its output side should be ``size``.
    batch_size, lr, weight_decay
        Images per step and AdamW's settings.
    checkpoint_dir : str or path, optional
        Folder where Lightning writes ``last.ckpt`` after every epoch.
    resume : bool
        Continue from ``checkpoint_dir/last.ckpt`` when it exists.
    backbone_options : dict, optional
        Architecture options of :func:`astrofm.backbones.load` (``depth`` ...).
    lora_rank, lora_alpha : optional
        LoRA's rank and scaling.
    num_workers, device, devices, num_nodes, strategy, precision
        DataLoader workers and Lightning placement, checked by
        :func:`astrofm.runtime.check_loop`.
    progress : bool
        Show the progress bar with the loss.
    seed : int
        Seeds random initialisation, views, masks and the data order.
    hdu : int or str, optional
        HDU read from FITS files given as a list.
    **options
        Method options, :data:`astrofm.pretrain.config.METHODS` (``n_local``,
        ``output_dim``, ``mask_ratio`` ...).

    Returns
    -------
    Backbone
        The pretrained backbone in its plain form (what ``output`` holds), in eval mode,
        with ``weights_origin`` set to ``output``.
    """
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader

    from astrofm import backbones
    from astrofm.features.adapt import default_preprocessing
    from astrofm.features.embed import as_dataset, with_transform
    from astrofm.features.store import atomic_path
    from astrofm.pretrain import config, methods
    from astrofm.pretrain.data import ViewDataset, view_transform
    from astrofm.pretrain.module import PretrainModule, plain_backbone
    from astrofm.runtime import check_loop
    from astrofm.trainer import barrier, is_global_zero, make_trainer
    from astrofm.tuning import apply_tuning

    options = config.method_options(method, options)
    _check(tuning, epochs, batch_size, lr, weight_decay, output, checkpoint_dir, resume)
    placement = check_loop(device=device, precision=precision, num_workers=num_workers,
                           devices=devices, num_nodes=num_nodes, strategy=strategy)
    if method == "mae":
        config.check_mae(backbones.get(model))
    dataset = as_dataset(unlabeled, hdu=hdu)
    backbone = backbones.load(model, weights=weights, seed=seed, **(backbone_options or {}))
    if method == "mae":
        config.check_mae(backbone.spec, backbone.model)
    side = backbone.spec.valid_size(size if size is not None else backbone.spec.input_size)
    apply_tuning(backbone, tuning, lora_rank=lora_rank, lora_alpha=lora_alpha)
    pl.seed_everything(seed, workers=True, verbose=False)
    if method == "dino":
        local = backbone.spec.valid_size(max(side // 2, backbone.spec.min_size))
        views = view_transform("dino", side, local, options["n_local"])
        objective = methods.DINO(backbone, epochs, **options)
    else:
        views = view_transform("mae", side)
        objective = methods.MAE(backbone, side, **options)
    transform = preprocessing or default_preprocessing(backbone.spec, size=side)
    images = ViewDataset(with_transform(dataset, transform), views)
    loader = DataLoader(images, batch_size=min(batch_size, len(images)), shuffle=True,
                        drop_last=True, num_workers=num_workers,
                        persistent_workers=num_workers > 0)
    callbacks, ckpt_path = [], None
    if checkpoint_dir is not None:
        callbacks.append(ModelCheckpoint(dirpath=checkpoint_dir, save_last=True, save_top_k=0,
                                         enable_version_counter=False))
        last = Path(checkpoint_dir) / _LAST
        if resume and last.is_file():
            ckpt_path = last
            log.info("resuming from %s", last)
    trainer = make_trainer(**placement, device=device, precision=precision, progress=progress,
                           callbacks=callbacks, max_epochs=epochs,
                           enable_checkpointing=checkpoint_dir is not None, log_every_n_steps=1)
    trainer.fit(PretrainModule(objective, lr, weight_decay), loader, ckpt_path=ckpt_path)
    result = plain_backbone(backbone)
    if is_global_zero(trainer):
        with atomic_path(output) as tmp:
            result.save_weights(tmp)
    barrier(trainer, "astrofm.pretrain.saved")
    result.weights_origin = str(output)
    return result
