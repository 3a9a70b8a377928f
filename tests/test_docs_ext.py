"""The documentation's backbone table lists every registered backbone as its spec says."""

import sys
from pathlib import Path

import pytest

from astrofm import backbones

DOCS_EXT = Path(__file__).resolve().parents[1] / "docs" / "_ext"

pytest.importorskip("sphinx")


@pytest.fixture()
def astrofm_docs(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS_EXT))
    import astrofm_docs

    yield astrofm_docs
    sys.modules.pop("astrofm_docs", None)


def test_backbone_rows_follow_the_registry(astrofm_docs):
    header, rows = astrofm_docs.backbone_rows()
    assert len(rows) == len(backbones.list())
    by_name = {row[0].split("``")[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_name) == set(backbones.list())
    dinov2 = by_name["dinov2-base"]
    # Worked out from the DINOv2 paper: ViT-B/14 at 518 px, 768-dim; astrofm feeds 224 px.
    assert dinov2["Name (aliases)"] == "``dinov2-base`` (``dinov2``)"
    assert dinov2["Patch"] == "14"
    assert dinov2["Input px (native)"] == "224 (518)"
    assert dinov2["Dim"] == "768"
    assert dinov2["Weights licence"] == "apache-2.0"
    resnet = by_name["resnet50"]
    assert (resnet["Patch"], resnet["Input px (native)"], resnet["Dim"]) == ("CNN", "224", "2048")
