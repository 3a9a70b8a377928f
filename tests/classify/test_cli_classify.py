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


def test_train_errors_are_messages(tmp_path, toy, capsys):
    train = _npz(tmp_path / "train.npz", toy, 30, 0)
    code = main(["train", train, "-o", str(tmp_path / "m.astrofm"), "-m", "resnet18",
                 "--head", "svm", "-q"])
    assert code == 2
    assert "unknown head 'svm'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "absent.astrofm"), train, "-q"]) == 2
