import pytest
import torch
from torch.nn import functional as F

from astrofm.classify.heads import HEADS, KNNHead, Standardize, WhiteningHead, build_head
from astrofm.classify.solvers import fit_lbfgs, fit_minibatch
from astrofm.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("name", ["linear", "mlp", "whitening"])
@pytest.mark.parametrize("solver", ["lbfgs", "paper"])
def test_trainable_heads_reduce_the_loss(name, solver, separable):
    x, y = separable
    torch.manual_seed(0)
    head = build_head(name, 16, 3, **({"hidden": (8,)} if name == "mlp" else {}))
    if hasattr(head, "fit_statistics"):
        head.fit_statistics(x)
    with torch.no_grad():
        before = float(F.cross_entropy(head(x), y))
    if solver == "lbfgs":
        fit_lbfgs(head, x, y, weight_decay=1e-3, max_iter=50)
    else:
        history = fit_minibatch(head, x, y, lr=5e-2, epochs=20, val=(x, y))
        assert len(history["loss"]) == 20 and len(history["val_macro_f1"]) == 20
    with torch.no_grad():
        logits = head(x)
    assert float(F.cross_entropy(logits, y)) < before
    assert (logits.argmax(1) == y).float().mean() > 0.9


def test_knn_votes_by_cosine_similarity(separable):
    x, y = separable
    head = KNNHead(16, 3, k=5).fit_statistics(x, y)
    probabilities = head(x).softmax(1)
    assert torch.allclose(probabilities.sum(1), torch.ones(len(x)))
    assert (probabilities.argmax(1) == y).all()
    # scale does not matter to a cosine neighbour
    assert torch.equal(head(3 * x).argmax(1), head(x).argmax(1))
    # k larger than the bank is clipped; the config rebuilds the bank's size
    assert KNNHead(16, 3, k=500).fit_statistics(x, y)(x).shape == (90, 3)
    assert head.config() == {"k": 5, "temperature": 0.07, "n_bank": 90}


@pytest.mark.parametrize("mode", ["zca", "pca"])
def test_whitening_gives_unit_covariance(mode):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(500, 6, generator=gen) @ torch.randn(6, 6, generator=gen) + 4
    head = WhiteningHead(6, 2, whitening=mode, eps=1e-8).fit_statistics(x)
    white = (x - head.mean) @ head.matrix.T
    cov = white.T @ white / (len(x) - 1)
    assert torch.allclose(cov, torch.eye(6), atol=1e-3)
    assert torch.allclose(white.mean(0), torch.zeros(6), atol=1e-4)
    if mode == "zca":  # ZCA is the symmetric whitening: closest to the input
        assert torch.allclose(head.matrix, head.matrix.T, atol=1e-4)
    trainable = [n for n, p in head.named_parameters() if p.requires_grad]
    assert trainable == ["linear.weight", "linear.bias"]


def test_standardize_uses_given_statistics_only():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    scaler = Standardize(2).fit_statistics(x)
    assert torch.equal(scaler.mean, torch.tensor([2.0, 5.0]))
    assert torch.equal(scaler.std, torch.tensor([1.0, 1.0]))  # constant column: std 1
    assert torch.equal(scaler(x), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))


def test_head_names_and_options_are_checked():
    assert HEADS == ("linear", "mlp", "whitening", "knn")
    with pytest.raises(UnknownNameError, match="unknown head 'svm'"):
        build_head("svm", 4, 2)
    with pytest.raises(ConfigError, match=r"head='linear' takes no option \['k'\]"):
        build_head("linear", 4, 2, k=3)
    with pytest.raises(UnknownNameError, match="whitening='cholesky'"):
        build_head("whitening", 4, 2, whitening="cholesky")
    with pytest.raises(ConfigError, match="hidden"):
        build_head("mlp", 4, 2, hidden=())
    with pytest.raises(ConfigError, match="k=0"):
        build_head("knn", 4, 2, k=0)
    mlp = build_head("mlp", 4, 2, hidden=[8, 6], dropout=0.1)
    assert mlp.config() == {"hidden": [8, 6], "dropout": 0.1} and mlp.in_dim == 4
