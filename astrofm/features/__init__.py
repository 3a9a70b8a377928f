"""Features from backbones: ``adapt`` for a batch in memory, ``embed`` for many files.

:func:`adapt` makes images model-ready and keeps their provenance; :func:`embed` runs a
backbone over many images as a resumable Lightning job and returns an astropy Table;
:class:`AttentionMaps` and :func:`plot_attention` show where a ViT looks.
"""

from astrofm.features.adapt import Adapted, adapt, cached_backbone, default_preprocessing
from astrofm.features.attention import AttentionMaps, plot_attention
from astrofm.features.embed import TABLE_FORMATS, as_dataset, embed, with_transform, write_table
from astrofm.features.fingerprint import backbone_digest, inputs_digest
from astrofm.features.store import ShardStore, atomic_path

__all__ = [
    "adapt",
    "Adapted",
    "default_preprocessing",
    "cached_backbone",
    "embed",
    "as_dataset",
    "with_transform",
    "backbone_digest",
    "inputs_digest",
    "write_table",
    "TABLE_FORMATS",
    "AttentionMaps",
    "plot_attention",
    "ShardStore",
    "atomic_path",
]
