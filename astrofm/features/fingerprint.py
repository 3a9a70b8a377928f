"""What identifies a set of features: the backbone's weights and the input images.

Feature caches (:func:`astrofm.embed`'s shards, a frozen classifier's tables) and saved
models refer to weights and images by these digests, so a cache can never serve
features of other weights or of other images that happen to share names.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

__all__ = ["backbone_digest", "inputs_digest", "tensors_digest"]


def backbone_digest(backbone, *, skip_lora: bool = False) -> str:
    """``"sha1:<hex>"`` of a backbone's state dict.

    Parameters
    ----------
    backbone : torch.nn.Module
        The backbone.
    skip_lora : bool
        Leave LoRA adapter tensors out, giving the digest of the base weights a saved
        model refers to.
    """
    digest = hashlib.sha1()
    for name, tensor in backbone.state_dict().items():
        # BatchNorm's step counter does not change features, and frozen BatchNorm (the
        # frozen tuning) drops it: the same weights must give the same digest either way.
        if (skip_lora and "lora_" in name) or name.endswith("num_batches_tracked"):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).numpy().tobytes())
    return f"sha1:{digest.hexdigest()}"


def tensors_digest(tensors: dict) -> str:
    """``"sha256:<hex>"`` of named tensors: their names, dtypes, shapes and values.

    A saved model records it, so that a tensor changed, removed or added afterwards
    is found when it is loaded.

    Parameters
    ----------
    tensors : dict of str to torch.Tensor
        The tensors; their order does not matter.
    """
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        # Viewed as bytes, so that dtypes numpy lacks (bfloat16) are hashed too.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def inputs_digest(dataset) -> str:
    """SHA-1 of what a data set's images are: their names and their content.

    Names alone do not identify images held in memory (every array data set calls its
    items ``<arrays>[i]``), so arrays are hashed by content; files by name, size and
    modification time, which is cheap and catches a file rewritten in place.
    """
    from torch.utils.data import Subset

    digest = hashlib.sha1("\n".join(map(str, dataset.sources)).encode())
    index = np.arange(len(dataset))
    root = dataset
    while isinstance(root, Subset):
        index = np.asarray(root.indices)[index]
        root = root.dataset
    images = getattr(root, "images", None)
    items = getattr(root, "items", None)
    if isinstance(images, np.ndarray):
        digest.update(np.ascontiguousarray(images[index]).tobytes())
    elif items is not None:
        for i in index:
            data = getattr(items[i], "data", items[i])
            if isinstance(data, np.ndarray):
                digest.update(np.ascontiguousarray(data).tobytes())
    for source in dataset.sources:
        if os.path.isfile(source):
            stat = os.stat(source)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def image_digests(dataset) -> list[str]:
    """SHA-1 of each image's pixels (and mask), in data-set order.

    Unlike :func:`inputs_digest`, names and files do not matter: the same pixels under
    another name or in another format give the same digest, so two splits can be
    checked for shared images.

    Parameters
    ----------
    dataset : ImageDataset or Subset
        Anything whose items load as :class:`~astrofm.image.AstroImage` (``load(i)``).
    """
    from torch.utils.data import Subset

    index = list(range(len(dataset)))
    root = dataset
    while isinstance(root, Subset):
        index = [root.indices[i] for i in index]
        root = root.dataset
    digests = []
    for i in index:
        image = root.load(i)
        digest = hashlib.sha1(str(image.data.shape).encode())
        digest.update(np.ascontiguousarray(image.data, dtype=np.float32).tobytes())
        if image.mask is not None:
            digest.update(np.ascontiguousarray(image.mask, dtype=bool).tobytes())
        digests.append(digest.hexdigest())
    return digests
