"The refinement and segmentation stages inside `wsss reproduce`: every stage on real VOC images (smoke), the oracle, the tables."
import json, subprocess, sys
from pathlib import Path
from wsss.repro import METHOD_STAGES, RESULT_KEYS

def test_voc_smoke_every_stage(tmp_path, voc_mini, repo_root):
    out, figs = tmp_path/'runs', tmp_path/'figures'
    r = subprocess.run([sys.executable, '-c', 'from wsss.cli import main; raise SystemExit(main())', 'reproduce', '--dataset', 'voc',
                        '--data-root', str(voc_mini), '--profile', 'smoke', '--methods', 'cam', '--out', str(out), '--figures', str(figs),
                        '--quiet', '--device', 'cpu'], capture_output=True, text=True, cwd=repo_root)
    assert r.returncode == 0, r.stderr[-3000:]
    for st in ('refine', 'segment'): assert f'[cam] {st} ... done in' in r.stdout, r.stdout
    assert '[oracle] ... done in' in r.stdout
    res = json.loads((out/'voc'/'smoke'/'results.json').read_text())
    cam = res['methods']['cam']
    for k in RESULT_KEYS:
        if k != 'cam_threshold': assert 0 <= cam[k] <= 1, (k, cam[k])
    assert set(cam['seconds']) == set(METHOD_STAGES)
    assert 0 <= res['oracle']['seg_miou'] <= 1 and 0 <= res['oracle']['seg_crf_miou'] <= 1
    rd = out/'voc'/'smoke'/'cam'
    ids = [p.stem for p in (rd/'cams').glob('*.npz')]
    assert ids and all((rd/'refine'/'labels'/f'{i}.png').exists() for i in ids)
    assert list((rd/'segment'/'val').glob('*.png')) and list((rd/'segment'/'val_crf').glob('*.png'))
    table = (figs/'stages_voc_smoke.md').read_text()
    assert '| `cam` |' in table and 'oracle (ground truth)' in table
    assert r'\begin{tabular}' in (figs/'stages_voc_smoke.tex').read_text()
    assert (figs/'stages_chart_voc_smoke.png').stat().st_size > 0 and (figs/'qualitative_voc_smoke.png').stat().st_size > 0
    # a second run skips every finished stage, the oracle included
    r2 = subprocess.run(r.args, capture_output=True, text=True, cwd=repo_root)
    assert r2.returncode == 0 and '[cam] segment ... skipped' in r2.stdout and '[oracle] ... skipped' in r2.stdout, r2.stdout
