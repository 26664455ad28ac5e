"""Shared fixtures: the repository root and the real-data fixtures.

`voc_mini` / `coco_mini` are small real datasets shipped inside the repository (`tests/fixtures/`, see their
SOURCES.md), so the suite runs in any clone. `voc_shared` is the larger 200-image VOC set, shipped in the repository
as `data/voc_mini` (the real-image reproduction runs on it), used by the few tests that need its size.
"""
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / 'tests' / 'fixtures'
VOC_FIXTURE = FIXTURES / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
COCO_FIXTURE = FIXTURES / 'coco_mini'

@pytest.fixture(scope='session')
def repo_root() -> Path: return ROOT

@pytest.fixture(scope='session')
def voc_mini() -> Path:
    "VOCdevkit/VOC2012 of the in-repository fixture: 18 real images, 9 train + 9 val, all 20 classes."
    assert VOC_FIXTURE.is_dir(), f"in-repository VOC fixture missing: {VOC_FIXTURE}"
    return VOC_FIXTURE

@pytest.fixture(scope='session')
def coco_mini() -> Path:
    "The in-repository COCO fixture: 4 real val2017 images + their instance annotations (person only)."
    assert COCO_FIXTURE.is_dir(), f"in-repository COCO fixture missing: {COCO_FIXTURE}"
    return COCO_FIXTURE

VOC200 = ROOT / 'data' / 'voc_mini' / 'VOCdevkit' / 'VOC2012'

@pytest.fixture(scope='session')
def voc_shared() -> Path:
    "The 200-image VOC set shipped in the repository (`data/voc_mini`, see its SOURCES.md)."
    assert VOC200.is_dir(), f"in-repository 200-image VOC set missing: {VOC200}"
    return VOC200
