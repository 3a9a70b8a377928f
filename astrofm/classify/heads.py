"""Classification heads: feature vectors ``(N, D)`` in, class logits ``(N, K)`` out.

Every head records ``in_dim`` (D) and gives the options that rebuild it with
``config()``.

``linear``, ``mlp``, ``whitening`` (a fixed whitening of the training features, then a
linear layer) and ``knn`` (cosine k-nearest neighbours, training-free). Heads whose
statistics come from the training features (whitening, kNN, and the feature scaler
:class:`Standardize`) have a ``fit_statistics(x, y)`` method and keep what they learn in
buffers, so a saved head is its state dict plus :meth:`config`.
"""

from __future__ import annotations

import torch
from torch import nn

from astrofm.errors import ConfigError, UnknownNameError

__all__ = ["HEADS", "HEAD_OPTIONS", "build_head", "Standardize", "LinearHead", "MLPHead",
           "WhiteningHead", "KNNHead"]

#: Options each head takes, with their defaults.
HEAD_OPTIONS = {
    "linear": {},
    "mlp": {"hidden": (512,), "dropout": 0.0},
    "whitening": {"whitening": "zca", "eps": 1e-2},
    "knn": {"k": 20, "temperature": 0.07},
}
HEADS = tuple(HEAD_OPTIONS)


class Standardize(nn.Module):
    """Feature scaler: ``(x - mean) / std`` with statistics of the training features.

    Fitted once on the training split (never on validation or test data) and then
    fixed; constant features get a std of 1 instead of 0.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit_statistics(self, x: torch.Tensor, y=None) -> Standardize:
        """Set mean and std from training features ``x`` ``(N, D)``."""
        self.mean.copy_(x.mean(0))
        std = x.std(0, unbiased=False)
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        return self

    def forward(self, x):
        return (x - self.mean) / self.std


class LinearHead(nn.Linear):
    """One linear layer, ``logits = x W^T + b``."""

    def __init__(self, in_dim: int, n_classes: int):
        super().__init__(in_dim, n_classes)
        self.in_dim = in_dim

    def config(self) -> dict:
        """Options that rebuild this head (none)."""
        return {}


class MLPHead(nn.Sequential):
    """Hidden layers (linear, GELU, dropout) followed by a linear layer to the classes.

    Parameters
    ----------
    in_dim, n_classes : int
        Feature dimension and number of classes.
    hidden : sequence of int
        Width of each hidden layer.
    dropout : float
        Dropout after each hidden layer, in training mode only.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden=(512,), dropout: float = 0.0):
        hidden = (hidden,) if isinstance(hidden, int) else tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise ConfigError(f"hidden={hidden!r}: give one or more positive layer widths "
                              "for head='mlp'.")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout!r}: give a probability in [0, 1).")
        layers, width = [], in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        super().__init__(*layers, nn.Linear(width, n_classes))
        self.in_dim, self.hidden, self.dropout = in_dim, hidden, float(dropout)

    def config(self) -> dict:
        """Options that rebuild this head."""
        return {"hidden": list(self.hidden), "dropout": self.dropout}


class WhiteningHead(nn.Module):
    r"""A fixed whitening of the features, then one linear layer.

    With training-feature mean :math:`\mu` and covariance :math:`C = U \Lambda U^T`,

    .. math:: W_\mathrm{ZCA} = U (\Lambda + \epsilon\bar\lambda)^{-1/2} U^T, \qquad
              W_\mathrm{PCA} = (\Lambda + \epsilon\bar\lambda)^{-1/2} U^T,

    and the head computes :math:`\mathrm{linear}(W (x - \mu))`. :math:`\bar\lambda` is the
    mean eigenvalue, so ``eps`` is relative to the feature scale: it damps directions
    whose variance is below ``eps`` times the average (with fewer images than dimensions
    the covariance is singular, and an absolute epsilon would blow those up). Only the
    linear layer trains.

    Parameters
    ----------
    in_dim, n_classes : int
        Feature dimension and number of classes.
    whitening : {"zca", "pca"}
        ZCA keeps the features' orientation; PCA rotates them onto the principal axes.
    eps : float
        Regularisation relative to the mean eigenvalue.
    """

    def __init__(self, in_dim: int, n_classes: int, whitening: str = "zca", eps: float = 1e-2):
        super().__init__()
        if whitening not in ("zca", "pca"):
            raise UnknownNameError(f"whitening={whitening!r}: choose 'zca' or 'pca'.")
        if not eps > 0:
            raise ConfigError(f"eps={eps!r}: the whitening needs a positive regulariser.")
        self.in_dim, self.whitening, self.eps = in_dim, whitening, float(eps)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("matrix", torch.eye(in_dim))
        self.linear = nn.Linear(in_dim, n_classes)

    def fit_statistics(self, x: torch.Tensor, y=None) -> WhiteningHead:
        """Compute the whitening from training features ``x`` ``(N, D)``."""
        x = x.double()
        mean = x.mean(0)
        centred = x - mean
        cov = centred.T @ centred / max(len(x) - 1, 1)
        eigval, eigvec = torch.linalg.eigh(cov)
        eigval = eigval.clamp_min(0)
        scale = (eigval + self.eps * eigval.mean().clamp_min(1e-12)).rsqrt()
        matrix = scale[:, None] * eigvec.T
        if self.whitening == "zca":
            matrix = eigvec @ matrix
        self.mean.copy_(mean.float())
        self.matrix.copy_(matrix.float())
        return self

    def forward(self, x):
        return self.linear((x - self.mean) @ self.matrix.T)

    def config(self) -> dict:
        """Options that rebuild this head."""
        return {"whitening": self.whitening, "eps": self.eps}


class KNNHead(nn.Module):
    r"""Cosine k-nearest neighbours over the training features; nothing trains.

    As DINO's kNN evaluation: the ``k`` training features most similar (cosine
    :math:`s_i`) to a query vote for their class with weight :math:`\exp(s_i / T)`; the
    probabilities are the normalised votes, and the logits their logarithm (so a softmax
    gives the probabilities back).

    Parameters
    ----------
    in_dim, n_classes : int
        Feature dimension and number of classes.
    k : int
        Neighbours that vote (fewer when the training set is smaller).
    temperature : float
        Temperature :math:`T` of the vote weights.
    n_bank : int
        Size of the feature bank, for rebuilding a fitted head.
    """

    def __init__(self, in_dim: int, n_classes: int, k: int = 20, temperature: float = 0.07,
                 n_bank: int = 0):
        super().__init__()
        if int(k) < 1:
            raise ConfigError(f"k={k!r}: give a positive number of neighbours.")
        if not temperature > 0:
            raise ConfigError(f"temperature={temperature!r}: give a positive temperature.")
        self.in_dim, self.n_classes = in_dim, n_classes
        self.k, self.temperature = int(k), float(temperature)
        self.register_buffer("bank", torch.zeros(n_bank, in_dim))
        self.register_buffer("bank_labels", torch.zeros(n_bank, dtype=torch.long))

    def fit_statistics(self, x: torch.Tensor, y: torch.Tensor) -> KNNHead:
        """Keep the normalised training features ``x`` and their labels ``y``."""
        self.bank = nn.functional.normalize(x.float(), dim=1).clone()
        self.bank_labels = y.long().clone()
        return self

    def forward(self, x):
        if len(self.bank) == 0:
            raise ConfigError("the kNN head has no training features yet; call fit first.")
        sim = nn.functional.normalize(x.float(), dim=1) @ self.bank.T
        top, index = sim.topk(min(self.k, len(self.bank)), dim=1)
        votes = torch.zeros(len(x), self.n_classes, device=x.device)
        votes.scatter_add_(1, self.bank_labels[index], (top / self.temperature).exp())
        probabilities = votes / votes.sum(1, keepdim=True)
        return probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny).log()

    def config(self) -> dict:
        """Options that rebuild this head, with the size of its feature bank."""
        return {"k": self.k, "temperature": self.temperature, "n_bank": len(self.bank)}


_CLASSES = {"linear": LinearHead, "mlp": MLPHead, "whitening": WhiteningHead, "knn": KNNHead}


def build_head(name: str, in_dim: int, n_classes: int, **options) -> nn.Module:
    """A head by name.

    Parameters
    ----------
    name : {"linear", "mlp", "whitening", "knn"}
        The head.
    in_dim : int
        Feature dimension.
    n_classes : int
        Number of classes.
    **options
        The head's options, see :data:`HEAD_OPTIONS`.

    Returns
    -------
    torch.nn.Module
        Maps ``(N, in_dim)`` features to ``(N, n_classes)`` logits; its ``config()``
        gives the options that rebuild it.
    """
    if name not in _CLASSES:
        raise UnknownNameError(f"unknown head {name!r}; choose one of {', '.join(HEADS)}.")
    allowed = set(HEAD_OPTIONS[name]) | ({"n_bank"} if name == "knn" else set())
    wrong = sorted(set(options) - allowed)
    if wrong:
        raise ConfigError(f"head={name!r} takes no option {wrong}; its options are "
                          f"{sorted(HEAD_OPTIONS[name]) or 'none'}.")
    return _CLASSES[name](in_dim, n_classes, **options)
