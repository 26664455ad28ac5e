"""Shared fixtures: the repository root and the real-data fixtures.

`voc_mini` / `coco_mini` are small real datasets shipped inside the repository (`tests/fixtures/`, see their
SOURCES.md), so the suite runs in any clone. `voc_shared` is the larger 200-image VOC set in `../shared/data`
(or `$WSSS_SHARED_DATA`), used only by the few tests that need its size; they skip, saying why, where it is absent.
"""
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / 'tests' / 'fixtures'
VOC_FIXTURE = FIXTURES / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
COCO_FIXTURE = FIXTURES / 'coco_mini'
# set WSSS_SHARED_DATA to a missing folder to run the suite as a clone without ../shared would
SHARED_DATA = Path(os.environ.get('WSSS_SHARED_DATA', ROOT.parent / 'shared' / 'data'))

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

@pytest.fixture(scope='session')
def voc_shared() -> Path:
    "The larger shared VOC set (200 images), where this checkout has it."
    root = SHARED_DATA / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
    if not root.is_dir(): pytest.skip(f"optional larger VOC set not present: {root} (the in-repository fixture covers the required checks)")
    return root
