"""Discovery in embedding space: similarity search and anomaly ranking over embed tables.

:class:`SimilarityIndex` finds the nearest neighbours of a row, a source, a sky position
or a new image in a table from :func:`astrofm.embed`; :func:`anomaly_scores` ranks the
rows by how unusual they are, and :func:`rerank` refines that ranking from what a person
marked interesting; :func:`plot_gallery` shows the images.
"""

from astrofm.discover.anomaly import METHODS, anomaly_scores, rerank
from astrofm.discover.backend import KINDS
from astrofm.discover.gallery import display_image, plot_gallery
from astrofm.discover.index import DEFAULT_MEMORY_BUDGET, SimilarityIndex, default_index_path
from astrofm.discover.tables import fingerprint, read_table

__all__ = [
    "SimilarityIndex",
    "anomaly_scores",
    "rerank",
    "METHODS",
    "plot_gallery",
    "display_image",
    "KINDS",
    "DEFAULT_MEMORY_BUDGET",
    "default_index_path",
    "read_table",
    "fingerprint",
]
