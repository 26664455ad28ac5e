"`wsss reproduce --jobs`: units side by side in child processes, the step-0 dependency, the ablation stage, failures."
import filecmp, json, os, shutil, subprocess, sys
from pathlib import Path
import nbformat
from wsss.repro import read_stage

ROOT = Path(__file__).resolve().parents[1]
WSSS = [sys.executable, '-c', 'import sys; from wsss.cli import main; sys.exit(main())']

def wsss(*args, env=None, timeout=900):
    return subprocess.run([*WSSS, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)

def test_two_jobs_reuse_cams_classifier_and_write_the_ablation(tmp_path):
    r = wsss('reproduce', '--profile', 'smoke', '--methods', 'cam,sccam,protomtn', '--device', 'cpu', '--jobs', '2', '--quiet',
             '--out', tmp_path/'runs', '--figures', tmp_path/'figs')
    assert r.returncode == 0, r.stdout + r.stderr
    base = tmp_path/'runs'/'synthetic'/'smoke'
    res = json.loads((base/'results.json').read_text())
    assert set(res['methods']) == {'cam', 'sccam', 'protomtn'} and res['oracle']['seg_miou'] is not None
    # protomtn and sccam started once cam's classifier existed and adopted it (the same files, not retrained ones):
    # ProtoMTN's step-0 classifier, SC-CAM's round 0 (the same training, bit for bit)
    assert filecmp.cmp(base/'cam'/'train'/'model.pt', base/'protomtn'/'train'/'init_cam'/'model.pt', shallow=False)
    assert filecmp.cmp(base/'cam'/'train'/'round0'/'checkpoint.pt', base/'sccam'/'train'/'round0'/'checkpoint.pt', shallow=False)
    for st in ('train_cam', 'segment'): assert f'[protomtn] {st} ... done in' in r.stdout and f'[cam] {st} ... done in' in r.stdout, r.stdout
    assert r.stdout.count('[wsss] synthetic/smoke: results in') == 1  # the children's closing lines stay in their logs
    # the ablation stage: every arm of ABLATION_ARMS in the table, copied to the figures by the report
    from wsss.methods.protomtn import ABLATION_ARMS
    rec = read_stage(base/'_ablation_protomtn', 'ablation')
    assert rec is not None and set(rec['metrics']) == set(ABLATION_ARMS) and rec['size'] == {'n_images': 8, 'rounds': 2, 'epochs': 1}
    table = (tmp_path/'figs'/'protomtn_ablation_synthetic_smoke.md').read_text()
    assert all(f'| {arm} |' in table for arm in ABLATION_ARMS) and 'rectify=False' in table.splitlines()[0]
    # one log per unit (the synthetic profiles keep each chain whole: `parallel_units(split_late=False)`)
    assert sorted(p.name for p in (base/'logs'/'jobs').iterdir()) == ['cam.log', 'oracle.log', 'protomtn.log', 'protomtn_ablation.log', 'sccam.log']
    # a rerun skips every finished unit, the ablation included, and leaves the report alone
    r2 = wsss('reproduce', '--profile', 'smoke', '--methods', 'cam,sccam,protomtn', '--device', 'cpu', '--jobs', '2', '--quiet',
              '--out', tmp_path/'runs', '--figures', tmp_path/'figs')
    assert r2.returncode == 0 and '[protomtn ablation] ... skipped' in r2.stdout and '[report] ... skipped' in r2.stdout, r2.stdout + r2.stderr
    assert ' ... done in' not in r2.stdout

def test_a_failing_unit_is_named_and_the_others_keep_their_work(tmp_path):
    broken = tmp_path/'experiments'
    shutil.copytree(ROOT/'nbs'/'experiments', broken)
    nb = nbformat.read(broken/'make_cam.ipynb', as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('make_cam broke here')"))
    nbformat.write(nb, broken/'make_cam.ipynb')
    args = ('reproduce', '--profile', 'smoke', '--methods', 'cam', '--stages', 'train_cam,make_cam,oracle', '--device', 'cpu',
            '--jobs', '2', '--quiet', '--out', tmp_path/'runs', '--figures', tmp_path/'figs')
    r = wsss(*args, env={**os.environ, 'WSSS_EXPERIMENTS': str(broken)})
    assert r.returncode == 1, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith('wsss: error: [cam] make_cam failed with RuntimeError: make_cam broke here') and 'cam.log' in err, err
    base = tmp_path/'runs'/'synthetic'/'smoke'
    assert read_stage(base/'cam', 'train_cam') is not None and read_stage(base/'cam', 'make_cam') is None
    assert read_stage(base/'_oracle', 'oracle') is not None  # the other unit finished its work
    r = wsss(*args)  # fixed notebooks: the rerun resumes where it stopped
    assert r.returncode == 0, r.stdout + r.stderr
    assert '[cam] train_cam ... skipped' in r.stdout and '[cam] make_cam ... done in' in r.stdout and '[oracle] ... skipped' in r.stdout

def test_bad_jobs_value_is_refused_before_any_work(tmp_path):
    r = wsss('reproduce', '--profile', 'smoke', '--methods', 'cam', '--jobs', 'many', '--out', tmp_path/'runs', '--figures', tmp_path/'figs')
    assert r.returncode == 2 and "--jobs must be a positive integer or 'auto', got 'many'" in r.stderr
    assert not (tmp_path/'runs'/'synthetic'/'smoke'/'cam').exists()
