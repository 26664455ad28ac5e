"The in-repository real-data fixtures: present, byte-identical to their recorded sources, and the only data the suite needs."
import csv, hashlib, re
from pathlib import Path
import numpy as np
from PIL import Image
from wsss.data import VOC_CLASSES, read_class_labels, read_split, validate_dataset

TESTS = Path(__file__).resolve().parent
FIX = TESTS / 'fixtures'

def test_every_fixture_file_matches_its_sources_record():
    "Each copied file has a row in sources.csv (repository, commit, licence) and the recorded md5 and size."
    for name in ('voc_mini', 'coco_mini'):
        root = FIX / name
        assert (root / 'SOURCES.md').is_file(), root
        rows = {r['file']: r for r in csv.DictReader((root / 'sources.csv').open())}
        data_root = root / 'VOCdevkit' / 'VOC2012' if name == 'voc_mini' else root
        files = [p for p in data_root.rglob('*') if p.is_file() and p.suffix in ('.jpg', '.png', '.xml', '.json')
                 and p.parent.name in ('JPEGImages', 'SegmentationClass', 'Annotations', 'val2017', 'annotations')]
        assert files and {str(p.relative_to(data_root)) for p in files} == set(rows), name
        for p in files:
            r = rows[str(p.relative_to(data_root))]
            assert hashlib.md5(p.read_bytes()).hexdigest() == r['md5'] and p.stat().st_size == int(r['bytes']), p
            assert r['repo'] and len(r['commit']) == 40 and r['license'], p

def test_voc_fixture_is_small_real_and_covers_every_class():
    root = FIX / 'voc_mini' / 'VOCdevkit' / 'VOC2012'
    assert validate_dataset(root, splits=['train', 'val', 'trainval']) == []
    ids = read_split(root, 'trainval')
    assert len(ids) == 18 and sorted(read_split(root, 'train') + read_split(root, 'val')) == sorted(ids)
    labels = read_class_labels(root / 'labels.txt', VOC_CLASSES)
    assert set(labels) == set(ids) and np.stack(list(labels.values())).sum(0).min() >= 1  # all 20 classes appear
    assert Image.open(root / 'SegmentationClass' / f'{ids[0]}.png').mode == 'P'
    size = sum(p.stat().st_size for p in FIX.rglob('*') if p.is_file())
    assert size < 3_000_000, f"fixtures grew to {size} bytes: keep them small"

def test_no_test_reads_the_shared_folder():
    "Tests never reach ../shared (users have none): the 200-image set is shipped as data/voc_mini."
    for p in TESTS.glob('test_*.py'):
        assert not re.search(r"['\"]shared['\"]", p.read_text()), f"{p.name} builds a path into ../shared: use the voc_mini/coco_mini fixtures"

def test_shipped_voc200_is_the_recorded_set(repo_root):
    "data/voc_mini: 200 VOC 2012 pairs, each file's md5 equal to its record in sources.csv."
    import csv, hashlib
    root = repo_root / 'data' / 'voc_mini'
    rows = list(csv.DictReader(open(root / 'sources.csv')))
    voc = root / 'VOCdevkit' / 'VOC2012'
    assert len(list((voc / 'JPEGImages').glob('*.jpg'))) == 200 and len(list((voc / 'SegmentationClass').glob('*.png'))) == 200
    recorded = {r['file']: r['md5'] for r in rows if r['file'].startswith(('JPEGImages/', 'SegmentationClass/'))}
    assert len(recorded) >= 400
    bad = [f for f, md5 in recorded.items() if (voc / f).is_file() and hashlib.md5((voc / f).read_bytes()).hexdigest() != md5]
    assert not bad, f"files differ from their source record: {bad[:5]}"
