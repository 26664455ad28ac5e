"Shared fixtures: the repository root and the real data fixtures in ../shared/data."
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'

@pytest.fixture(scope='session')
def repo_root() -> Path: return ROOT

@pytest.fixture(scope='session')
def voc_mini() -> Path:
    root = SHARED_DATA / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
    assert root.is_dir(), f"real VOC fixture missing: expected {root} (the shared/ folder beside the clone)"
    return root

@pytest.fixture(scope='session')
def coco_mini() -> Path:
    root = SHARED_DATA / 'coco_mini'
    assert root.is_dir(), f"real COCO fixture missing: expected {root} (the shared/ folder beside the clone)"
    return root
