"`wsss reproduce` end to end through papermill: results schema, figures, skip, resume after a kill, bad data."
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import nbformat, pytest
from wsss.repro import METHOD_STAGES, SMOKE_MAX_IMAGES, check_results, read_stage

ROOT = Path(__file__).resolve().parents[1]
VOC_MINI = Path(__file__).resolve().parent / 'fixtures' / 'voc_mini'  # in-repository real fixture
WSSS = [sys.executable, '-c', 'import sys; from wsss.repro import main; sys.exit(main())']
SMOKE = ('reproduce', '--profile', 'smoke', '--methods', 'cam', '--device', 'cpu')

def wsss(*args, timeout=600):
    return subprocess.run([*WSSS, *map(str, args)], capture_output=True, text=True, timeout=timeout)

def nbs_snapshot():
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'nbs').rglob('*') if '.ipynb_checkpoints' not in p.parts)

def _start(args):
    return subprocess.Popen([*WSSS, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

def _kill_when(proc, ready, what):
    "SIGKILL the run's process group as soon as `ready()` holds; its output so far."
    try:
        while not ready() and proc.poll() is None: time.sleep(0.1)
        assert proc.poll() is None, f"the run ended before {what}: " + proc.stdout.read()
    finally:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    return proc.stdout.read()

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A smoke run killed 1 s into train_cam, resumed and killed again as make_cam starts, then resumed to completion;
    returns (folder, last run's output, second run's output)."""
    d = tmp_path_factory.mktemp('repro')
    before = nbs_snapshot()
    args = [*SMOKE, '--out', d / 'runs', '--figures', d / 'figs']
    rd = d / 'runs' / 'synthetic' / 'smoke' / 'cam'
    clock = rd / 'stages' / 'train_cam.clock.json'
    def train_cam_ran_1s():
        try: return json.loads(clock.read_text())['seconds_this_attempt'] >= 1.0
        except (OSError, ValueError, KeyError): return False
    _kill_when(_start(args), train_cam_ran_1s, 'train_cam ran for 1 s')
    assert read_stage(rd, 'train_cam') is None and clock.exists()
    # then killed as make_cam starts (train_cam's record, its executed notebook and run.json are complete by then)
    second = _kill_when(_start(args), (rd / 'stages' / 'make_cam.clock.json').exists, 'make_cam started')
    assert read_stage(rd, 'train_cam') is not None and read_stage(rd, 'make_pseudo') is None
    r = wsss(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert nbs_snapshot() == before, "reproduce must not write into nbs/"
    return d, r, second

def test_killed_stage_reports_time_before_and_after_the_interruption(run):
    d, _, second = run
    assert '[cam] train_cam ... resuming after an interruption' in second, second
    rec = read_stage(d / 'runs' / 'synthetic' / 'smoke' / 'cam', 'train_cam')
    assert rec['seconds_before_interruption'] >= 1.0 and rec['seconds_after_interruption'] > 0 and rec['attempts'] == 2
    assert rec['seconds'] == pytest.approx(rec['seconds_before_interruption'] + rec['seconds_after_interruption'], abs=0.01)
    assert not list((d / 'runs').rglob('*.clock.json'))  # every clock folded into its record

def test_resumed_run_skips_what_finished_before_the_kill(run):
    d, r, _ = run
    assert '[cam] train_cam ... skipped' in r.stdout
    for st in METHOD_STAGES[1:]: assert f'[cam] {st} ... done in' in r.stdout, r.stdout
    assert '[report] ... done in' in r.stdout
    assert str(d / 'figs' / 'results_synthetic_smoke.md') in r.stdout.strip().splitlines()[-1]  # the end message names the table

def test_results_json_schema_and_range(run):
    d, _, _ = run
    res = json.loads((d / 'runs' / 'synthetic' / 'smoke' / 'results.json').read_text())
    check_results(res)
    assert res['dataset'] == 'synthetic' and res['profile'] == 'smoke' and list(res['methods']) == ['cam']
    cam = res['methods']['cam']
    for k in ('cam_miou', 'pseudo_miou', 'pseudo_crf_miou', 'cam_threshold', 'cls_map', 'cls_f1', 'cam_part_mass'): assert 0 <= cam[k] <= 1, (k, cam[k])
    ev = read_stage(d / 'runs' / 'synthetic' / 'smoke' / 'cam', 'eval_cam')  # classification on val, CAM mass on the synthetic parts
    assert cam['cls_split'] == 'val' and ev['classification']['n_images'] == 16 and set(ev['classification']['ap']) == set(ev['iou']) - {'background'}
    assert abs(sum(ev['part_shares']['mass_share'].values()) - 1) < 1e-6 or ev['part_shares']['n_maps'] == 0
    assert set(cam['seconds']) == set(METHOD_STAGES) and all(v > 0 for v in cam['seconds'].values())
    rd = d / 'runs' / 'synthetic' / 'smoke' / 'cam'
    assert cam['seconds'] == {st: read_stage(rd, st)['seconds'] for st in METHOD_STAGES}  # one source: the stage records

def test_run_directory_holds_executed_notebooks_and_provenance(run):
    d, _, _ = run
    rd = d / 'runs' / 'synthetic' / 'smoke' / 'cam'
    for st in METHOD_STAGES:
        nb = nbformat.read(rd / f'{st}.ipynb', as_version=4)
        injected = [c for c in nb.cells if 'injected-parameters' in c.metadata.get('tags', [])]
        assert injected and f"out_dir = \"{rd}\"" in injected[0].source  # papermill really passed our parameters
        assert not [o for c in nb.cells for o in c.get('outputs', []) if o.get('output_type') == 'error']
    prov = json.loads((rd / 'run.json').read_text())
    assert prov['params']['method'] == 'cam' and prov['seed'] == 0 and prov['device'] == 'cpu'
    assert prov['versions']['torch'] and 'git_commit' in prov and set(prov['seconds']) == set(METHOD_STAGES)
    assert len(list((rd / 'cams').glob('*.npz'))) == len((rd.parents[2] / 'data' / 'synthetic-smoke-seed0' / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split())

def test_figures_and_table(run):
    d, _, _ = run
    names = sorted(p.name for p in (d / 'figs').iterdir())
    assert names == ['cam_part_shares_synthetic_smoke.png', 'cam_threshold_synthetic_smoke.png', 'qualitative_synthetic_smoke.png',
                     'results_synthetic_smoke.md', 'stages_chart_synthetic_smoke.png', 'stages_synthetic_smoke.md',
                     'stages_synthetic_smoke.tex']  # cam_part_shares: CamMethod.report_figures (synthetic parts); stages: refine/segment/oracle
    assert all((d / 'figs' / n).stat().st_size > 1000 for n in names[:3] + ['stages_chart_synthetic_smoke.png'])
    stages = (d / 'figs' / 'stages_synthetic_smoke.md').read_text()
    assert '| `cam` |' in stages and 'oracle' in stages and '\\begin{tabular}' in (d / 'figs' / 'stages_synthetic_smoke.tex').read_text()
    table = (d / 'figs' / 'results_synthetic_smoke.md').read_text()
    assert '| `cam` |' in table and 'CAM mIoU' in table

def test_rerun_skips_every_stage(run):
    d, _, _ = run
    r = wsss(*SMOKE, '--out', d / 'runs', '--figures', d / 'figs')
    assert r.returncode == 0, r.stderr
    for st in METHOD_STAGES: assert f'[cam] {st} ... skipped' in r.stdout
    assert '[report] ... skipped' in r.stdout and 'done in' not in r.stdout

def test_deleted_record_and_cam_file_are_redone(run):
    d, _, _ = run
    rd = d / 'runs' / 'synthetic' / 'smoke' / 'cam'
    victim = sorted((rd / 'cams').glob('*.npz'))[0]
    victim.unlink(); (rd / 'stages' / 'make_cam.json').unlink()
    r = wsss(*SMOKE, '--out', d / 'runs', '--figures', d / 'figs')
    assert r.returncode == 0, r.stdout + r.stderr
    assert '[cam] train_cam ... skipped' in r.stdout and '[cam] make_cam ... done' in r.stdout
    assert '[cam] make_pseudo ... done' in r.stdout  # later stages rerun on the new CAMs
    assert victim.exists() and read_stage(rd, 'make_cam')['n_images'] == len(list((rd / 'cams').glob('*.npz')))
    check_results(json.loads((rd.parent / 'results.json').read_text()))

def test_corrupt_image_names_the_file(run, tmp_path):
    d, _, _ = run
    data = tmp_path / 'syn'
    shutil.copytree(d / 'runs' / 'data' / 'synthetic-smoke-seed0', data)
    bad = data / 'JPEGImages' / f"{(data / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()[2]}.jpg"
    bad.write_bytes(b'\xff\xd8 truncated')
    r = wsss(*SMOKE, '--data-root', data, '--out', tmp_path / 'runs', '--figures', tmp_path / 'figs')
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith('wsss: error:') and str(bad) in err, r.stderr
    assert 'Traceback' not in r.stderr
    # found by the check before the first stage: no notebook ran, no training started
    assert 'before any stage' in err and '[cam] train_cam' not in r.stdout, r.stdout
    assert not list((tmp_path / 'runs').rglob('*.ipynb'))

@pytest.mark.parametrize('root, needle', [('missing', 'no such directory'), ('empty', 'not a PASCAL VOC')])
def test_wrong_voc_root(root, needle, tmp_path):
    (tmp_path / 'empty').mkdir()
    r = wsss(*SMOKE, '--dataset', 'voc', '--data-root', tmp_path / root, '--out', tmp_path / 'runs')
    assert r.returncode == 2 and '--data-root' in r.stderr and needle in r.stderr and str(tmp_path / root) in r.stderr, r.stderr
    assert not (tmp_path / 'runs').exists()

def test_voc_smoke_on_real_images(tmp_path):
    r = wsss(*SMOKE, '--dataset', 'voc', '--data-root', VOC_MINI, '--out', tmp_path / 'runs', '--figures', tmp_path / 'figs')
    assert r.returncode == 0, r.stdout + r.stderr
    res = check_results(json.loads((tmp_path / 'runs' / 'voc' / 'smoke' / 'results.json').read_text()))
    assert res['dataset'] == 'voc' and 0 <= res['methods']['cam']['cam_miou'] <= 1
    assert (tmp_path / 'figs' / 'results_voc_smoke.md').is_file()
    rec = read_stage(tmp_path / 'runs' / 'voc' / 'smoke' / 'cam', 'eval_cam')
    assert rec['n_images'] == SMOKE_MAX_IMAGES and len(rec['iou']) == 21  # the smoke cap on real data; 20 VOC classes + background
    # a random-init CPU profile on real photos says, before the run and in the table, that its numbers mean little
    first = r.stdout.index('[warning]')
    assert first < r.stdout.index('[cam] train_cam') and 'random initialisation' in r.stdout and '--profile paper' in r.stdout
    table = (tmp_path / 'figs' / 'results_voc_smoke.md').read_text()
    assert 'Warning' in table.split('|')[0] and 'random initialisation' in table

def test_experiment_notebooks_run_all_with_their_defaults(tmp_path):
    "A reader's Run All: every stage notebook with its own parameters, from its folder, outputs under ../../runs."
    from wsss.repro import STAGES, SharedKernel, execute_stage
    nbdir = tmp_path / 'nbs' / 'experiments'
    shutil.copytree(ROOT / 'nbs' / 'experiments', nbdir)
    kernel = SharedKernel()
    try:
        for st in STAGES: execute_stage(nbdir / f'{st}.ipynb', tmp_path / 'executed' / f'{st}.ipynb', {}, cwd=nbdir, stream=None, kernel=kernel)
    finally: kernel.close()
    assert read_stage(tmp_path / 'runs' / 'synthetic' / 'smoke' / 'cam', 'make_pseudo') is not None
    assert (tmp_path / 'runs' / 'figures' / 'results_synthetic_smoke.md').is_file()
    assert sorted(p.name for p in nbdir.iterdir()) == sorted(p.name for p in (ROOT / 'nbs' / 'experiments').iterdir())

def test_shared_kernel_gives_each_notebook_a_clean_namespace(tmp_path):
    "Stages share one kernel for speed; a later notebook must not see an earlier one's variables."
    from wsss.repro import SharedKernel, execute_stage, StageFailed
    from wsss.core import DataError
    def nb(path, *sources):
        n = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}})
        n.cells = [nbformat.v4.new_code_cell(s) for s in sources]
        n.cells[0].metadata['tags'] = ['parameters']
        nbformat.write(n, path); return path
    first = nb(tmp_path / 'first.ipynb', 'x = 1', 'leak = x')
    second = nb(tmp_path / 'second.ipynb', 'x = 2', "import os, multiprocessing as mp\nassert 'leak' not in globals()\n"
                "assert __spec__ is None or __spec__  # multiprocessing reads it\nprint(os.getcwd(), x)")
    (tmp_path / 'a').mkdir(); (tmp_path / 'b').mkdir()
    kernel = SharedKernel()
    try:
        execute_stage(first, tmp_path / 'out1.ipynb', {'x': 5}, cwd=tmp_path / 'a', stream=None, kernel=kernel)
        execute_stage(second, tmp_path / 'out2.ipynb', {}, cwd=tmp_path / 'b', stream=None, kernel=kernel, log_file=tmp_path / 'b.log')
        assert (tmp_path / 'b.log').read_text().split() == [str(tmp_path / 'b'), '2']  # its own cwd and parameters
        bad = nb(tmp_path / 'bad.ipynb', 'x = 0', "raise RuntimeError('boom')")
        with pytest.raises(StageFailed, match='boom') as e:
            execute_stage(bad, tmp_path / 'out3.ipynb', {}, cwd=tmp_path, stream=None, kernel=kernel, log_file=tmp_path / 'bad.log')
        assert str(tmp_path / 'out3.ipynb') in str(e.value) and str(tmp_path / 'bad.log') in str(e.value)  # where to look
        data_err = nb(tmp_path / 'data.ipynb', 'x = 0', "from wsss.core import DataError\nraise DataError('x.jpg: corrupt')")
        with pytest.raises(DataError, match='x.jpg: corrupt') as e:
            execute_stage(data_err, tmp_path / 'out4.ipynb', {}, cwd=tmp_path, stream=None, kernel=kernel, log_file=tmp_path / 'd.log')
        assert str(tmp_path / 'out4.ipynb') in str(e.value) and str(tmp_path / 'd.log') in str(e.value)
    finally: kernel.close()
    assert not kernel.km.has_kernel

def test_stage_seconds_live_in_the_stage_records(tmp_path):
    "A kill between a stage record and run.json (or with run.json stale) loses no stage time: results read the records."
    from wsss.repro import finish_stage, method_results
    rd = tmp_path / 'cam'
    for k, st in enumerate(METHOD_STAGES): finish_stage(rd, st, {'x': 0.5}, seconds=1.0 + k)
    (rd / 'run.json').write_text(json.dumps({'seconds': {'make_cam': 99.0}}))  # stale, as after a kill
    assert method_results(rd)['seconds'] == {st: 1.0 + k for k, st in enumerate(METHOD_STAGES)}


def test_seed_table_counts_the_stages_a_partial_run_finished(tmp_path):
    "A seed run with --stages up to eval_cam is absent from results.json (complete methods only) but its numbers reach the seeds table."
    from wsss.repro import collect_results, finish_stage, results_seeds_table
    runs = []
    for s, cam in ((0, 0.40), (1, 0.44)):
        base = tmp_path / f'seed{s}' / 'synthetic' / 'quick'
        stages = METHOD_STAGES if s == 0 else METHOD_STAGES[:METHOD_STAGES.index('eval_cam') + 1]
        for st in stages: finish_stage(base / 'cam', st, {'cam_miou': cam} if st == 'eval_cam' else {'seg_miou': 0.3} if st == 'segment' else {}, seconds=1.0)
        assert ('cam' in collect_results(base)['methods']) == (s == 0)
        runs.append(collect_results(base, partial=True))
    table = results_seeds_table(runs, [0, 1])
    row = next(l for l in table.splitlines() if l.startswith('| `cam`'))
    assert '42.0 ± 2.8' in row and '30.0 (n=1)' in row  # CAM over both seeds; segmentation from seed 0 alone, and said so


def test_executed_notebook_is_replaced_atomically(tmp_path, monkeypatch):
    "papermill writes a hidden partial file; `output` is replaced only by a notebook papermill wrote whole (issue 20)."
    import papermill as pm
    from wsss.repro import StageFailed, execute_stage
    out = tmp_path / 'run' / 'make_cam.ipynb'; out.parent.mkdir()
    out.write_text('{"complete": "the previous run"}')
    def killed(src, dst, **kw):  # cut mid-write, then interrupted
        Path(dst).write_text('{"cells": [')
        raise KeyboardInterrupt
    monkeypatch.setattr(pm, 'execute_notebook', killed)
    with pytest.raises(KeyboardInterrupt): execute_stage(tmp_path / 'nb.ipynb', out, {}, cwd=tmp_path, stream=None)
    assert out.read_text() == '{"complete": "the previous run"}' and [p.name for p in out.parent.iterdir()] == ['make_cam.ipynb']
    def done(src, dst, **kw): Path(dst).write_text('{"complete": "this run"}')
    monkeypatch.setattr(pm, 'execute_notebook', done)
    assert execute_stage(tmp_path / 'nb.ipynb', out, {}, cwd=tmp_path, stream=None) == out
    assert out.read_text() == '{"complete": "this run"}' and [p.name for p in out.parent.iterdir()] == ['make_cam.ipynb']
    def crashed(src, dst, **kw):  # the kernel died after papermill saved the cells that ran
        Path(dst).write_text('{"complete": "so far"}'); raise RuntimeError('Kernel died')
    monkeypatch.setattr(pm, 'execute_notebook', crashed)
    with pytest.raises(StageFailed, match=str(out)): execute_stage(tmp_path / 'nb.ipynb', out, {}, cwd=tmp_path, stream=None)
    assert out.read_text() == '{"complete": "so far"}'
