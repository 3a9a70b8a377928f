import numpy as np
import pytest
from astropy.table import Table

import astrofm
from astrofm.cli import main


def _npz(path, toy, n, seed):
    data = toy(n, seed=seed)
    np.savez(path, images=data.images, labels=data.labels,
             label_names=np.array(data.classes))
    return str(path)


def test_train_then_evaluate(tmp_path, toy, capsys):
    train = _npz(tmp_path / "train.npz", toy, 30, 0)
    test = _npz(tmp_path / "test.npz", toy, 10, 1)
    model = tmp_path / "m.astrofm"
    code = main(["train", train, "-o", str(model), "-m", "resnet18", "--weights", "random",
                 "--size", "32", "--head", "mlp", "--hidden", "8", "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "validation macro F1" in out and str(model) in out
    assert astrofm.load(model).net.head.config()["hidden"] == [8]
    report = tmp_path / "report.ecsv"
    figure = tmp_path / "confusion.png"
    assert main(["evaluate", str(model), test, "-o", str(report), "--confusion", str(figure),
                 "-q"]) == 0
    assert "macro F1" in capsys.readouterr().out
    table = Table.read(report)
    assert list(table["class"]) == ["a", "b"]
    # the toy classes (bar against square) are separable: the network learned them
    assert table.meta["macro_f1"] >= 0.9
    predicted = np.asarray(astrofm.load(model).predict(toy(10, seed=1))["label"])
    truth = np.arange(10) % 2  # toy() alternates the two classes
    f1 = [2 * np.sum((predicted == c) & (truth == c)) / (np.sum(predicted == c)
                                                        + np.sum(truth == c)) for c in (0, 1)]
    np.testing.assert_allclose(table["f1"], f1, atol=1e-6)
    assert table.meta["macro_f1"] == pytest.approx(np.mean(f1), abs=1e-6)
    assert figure.stat().st_size > 0
    assert astrofm.load(model).options.weights is None  # --weights random
    # A figure format Matplotlib lacks is refused before scoring, not after.
    assert main(["evaluate", str(model), test, "--confusion", str(tmp_path / "c.xyz"),
                 "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--confusion" in captured.err and ".svg" in captured.err


def test_train_errors_are_messages(tmp_path, toy, capsys):
    train = _npz(tmp_path / "train.npz", toy, 30, 0)
    code = main(["train", train, "-o", str(tmp_path / "m.astrofm"), "-m", "resnet18",
                 "--head", "svm", "--weights", "random", "-q"])
    assert code == 2
    assert "unknown head 'svm'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "absent.astrofm"), train, "-q"]) == 2


def test_weights_default_to_pretrained_and_random_means_random():
    from astrofm.cli import build_parser
    from astrofm.cli.train import classifier_options

    parser = build_parser()
    for command in (["embed", "x.fits", "-o", "f.fits"], ["train", "t.npz", "-o", "m.astrofm"]):
        assert parser.parse_args(command).weights == "pretrained"
    trained = parser.parse_args(["train", "t.npz", "-o", "m.astrofm"])
    assert classifier_options(trained)["weights"] == "pretrained"
    random = parser.parse_args(["train", "t.npz", "-o", "m.astrofm", "--weights", "random"])
    clf = astrofm.Classifier("resnet18", **classifier_options(random))
    assert clf.backbone.weights_origin == "random (seed 0)"
