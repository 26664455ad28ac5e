"The project's own invariants: nbdev settings, notebook hygiene, wsss/ in sync with nbs/, README, packaging."
import configparser, json, os, re, shutil, subprocess, sys, zipfile
from pathlib import Path
import nbformat, pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
ALL_NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)
LIBRARY_NOTEBOOKS = [p for p in ALL_NOTEBOOKS if 'experiments' not in p.parts and p.name != 'index.ipynb']
EXPERIMENT_NOTEBOOKS = [p for p in ALL_NOTEBOOKS if 'experiments' in p.parts]

def settings():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    return cfg['DEFAULT']

def test_settings_keep_parameters_tag_and_test_flags():
    s = settings()
    # without `tags`, nbdev_clean strips papermill's `parameters` tag and papermill silently runs the defaults
    assert 'tags' in s['allowed_cell_metadata_keys'].split(), "settings.ini must keep allowed_cell_metadata_keys = tags"
    assert set('notest slow cuda data'.split()) <= set(s['tst_flags'].split()), "tst_flags must hold notest slow cuda data"

def test_runtime_requirements_do_not_need_nbdev():
    reqs = settings()['requirements'].lower()
    for dev_only in ('nbdev', 'fastcore', 'execnb', 'jupyterlab'): assert dev_only not in reqs
    assert 'nbdev==2.4.14' in settings()['dev_requirements']
    # tqdm.auto in JupyterLab needs ipywidgets, or every progress bar warns "IProgress not found"
    assert 'ipywidgets' in settings()['dev_requirements'] and 'ipywidgets' not in reqs

def test_notebooks_found():
    names = {p.name for p in LIBRARY_NOTEBOOKS}
    assert {'00_core.ipynb', '01_data.ipynb', '02_metrics.ipynb'} <= names
    assert (NBS / 'experiments' / '.notest').exists(), "experiment notebooks run through papermill, not nbdev_test"

@pytest.mark.parametrize('nb_path', ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_notebook_is_clean_and_python3(nb_path):
    nb = json.loads(nb_path.read_text())
    assert nb['metadata']['kernelspec']['name'] == 'python3', f"{nb_path}: kernelspec must be python3"
    for cell in nb['cells']:
        if cell['cell_type'] != 'code': continue
        assert cell.get('execution_count') is None, f"{nb_path}: run nbdev_clean (execution counts left)"
        assert set(cell.get('metadata', {})) <= {'tags'}, f"{nb_path}: cell metadata other than tags"
        size = len(json.dumps(cell.get('outputs', [])))
        assert size < 200_000, f"{nb_path}: a cell output of {size} bytes is too large to commit"

# the library notebooks 00..10 (issue 6, item 8); notebooks added later (11_cli, 12_refine, ...) join this list once their owners commit them executed
NUMBERED_NOTEBOOKS = [p for p in LIBRARY_NOTEBOOKS if p.parent == NBS and p.name[:2].isdigit() and int(p.name[:2]) <= 10]

def _shows_something(out) -> bool:
    "A figure, a rendered table, or a printed table / result of at least 3 lines."
    data = out.get('data', {})
    if any(k in data for k in ('image/png', 'image/svg+xml', 'text/html', 'text/markdown')): return True
    text = out.get('text', '') or data.get('text/plain', '')
    text = ''.join(text) if isinstance(text, list) else text
    return len(text.strip().splitlines()) >= 3

@pytest.mark.parametrize('nb_path', NUMBERED_NOTEBOOKS, ids=lambda p: p.name)
def test_library_notebook_shows_a_figure_or_table(nb_path):
    "Committed executed: a reader on GitHub sees at least one figure or table, and the pictures stay small."
    nb = json.loads(nb_path.read_text())
    outs = [o for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]
    assert any(_shows_something(o) for o in outs), f"{nb_path.name}: no figure or table in the committed outputs (execute it, then nbdev_clean)"
    for o in outs:
        png = o.get('data', {}).get('image/png')
        if png: assert len(''.join(png)) < 120_000, f"{nb_path.name}: a {len(''.join(png))}-byte PNG output: use figsize ~(8, 3) and dpi <= 80"

@pytest.mark.parametrize('nb_path', EXPERIMENT_NOTEBOOKS, ids=lambda p: p.name)
def test_experiment_notebooks_have_one_parameters_cell_and_no_exports(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    tagged = [c for c in nb.cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1, f"{nb_path}: needs exactly one cell tagged `parameters`"
    assert not any('default_exp' in c.source or '#| export' in c.source for c in nb.cells), f"{nb_path}: experiments export nothing"

def test_library_in_sync_with_notebooks(tmp_path):
    "nbdev_export over a copy of the repo must reproduce wsss/ exactly."
    for name in ('nbs', 'wsss'): shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / 'settings.ini', tmp_path / 'settings.ini')
    out = subprocess.run([sys.executable, '-c', 'from nbdev.doclinks import nbdev_export; nbdev_export()'],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    changed = [str(p.relative_to(tmp_path)) for p in sorted((tmp_path / 'wsss').rglob('*.py'))
               if not (ROOT / p.relative_to(tmp_path)).exists() or p.read_text() != (ROOT / p.relative_to(tmp_path)).read_text()]
    assert not changed, f"wsss/ is out of sync with nbs/ (run nbdev_export): {changed}"

def test_readme_is_rendered_from_index():
    out = subprocess.run([sys.executable, str(ROOT / '.ci' / 'render_readme.py'), '--check'], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

@pytest.mark.parametrize('name', ['results_synthetic_quick', 'stages_synthetic_quick', 'results_voc_quick', 'stages_voc_quick'])
def test_readme_results_match_the_committed_table(name):
    "The README quotes the tables `wsss reproduce` regenerates in figures/ (synthetic benchmark and real VOC): they must agree."
    table = (ROOT / 'figures' / f'{name}.md').read_text()
    rows = [l for l in table.splitlines() if l.startswith('| `') or l.startswith('| oracle')]
    assert rows, f"no method rows in figures/{name}.md"
    readme = (ROOT / 'README.md').read_text()
    assert all(r in readme for r in rows), f"README results are stale: copy the rows of figures/{name}.md into nbs/index.ipynb"

def test_stability_script_compares_every_cell_in_points():
    "benchmarks/stability.py (issue 22): the largest difference per row, in points, over the cells both runs have."
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    try: import stability
    finally: sys.path.pop(0)
    a = dict(methods=dict(cam=dict(cam_miou=0.374, cls_map=0.80, pseudo_miou=0.374, seconds={'make_cam': 9.0})), oracle=dict(seg_miou=0.30))
    b = dict(methods=dict(cam=dict(cam_miou=0.350, cls_map=0.81, seconds={'make_cam': 7.0})), oracle=dict(seg_miou=0.31))
    c = stability.compare(a, b)
    assert c['max_per_row'] == {'cam': 2.4, 'oracle': 1.0} and c['max_diff'] == 2.4
    assert {(x['row'], x['cell']) for x in c['cells']} == {('cam', 'cam_miou'), ('cam', 'cls_map'), ('oracle', 'seg_miou')}  # only shared cells; times are no cell

def _readme_commands():
    blocks = re.findall(r'```(?:bash|sh|shell)\n(.*?)```', (ROOT / 'README.md').read_text(), flags=re.S)
    return [l.split('#')[0].strip() for b in blocks for l in b.splitlines() if l.strip() and not l.strip().startswith('#')]

def test_readme_speed_tables_are_rendered_from_the_committed_results():
    "The Speed tables are what benchmarks/speed_table.py renders from benchmarks/results/summary.json (no hand-typed numbers)."
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    try: import speed_table
    finally: sys.path.pop(0)
    summary = json.loads((ROOT / 'benchmarks' / 'results' / 'summary.json').read_text())
    assert summary['rows'] and not summary.get('failed'), "benchmarks/results/summary.json holds no complete run"
    for r in summary['rows']:  # every committed row carries its own ratio, recomputable from its two rates
        if r.get('ratio'): assert abs(r['ratio'] - r['ours'] / r['official_style']) <= 1e-9 * r['ratio'], r['name']
    tables = speed_table.render(summary)
    assert speed_table.committed_tables() == tables, "run `python benchmarks/speed_table.py` after run_all.py"
    assert tables in (ROOT / 'README.md').read_text()

def test_readme_shows_two_commands_and_ci_runs_the_test_one():
    quickstart = _readme_commands()[:2]
    assert len(quickstart) == 2 and 'pip install' in quickstart[0] and 'wsss reproduce' in quickstart[0], quickstart
    assert 'pytest' in quickstart[1] and 'nbdev_test' in quickstart[1], quickstart
    assert quickstart[1] in (ROOT / '.ci' / 'run').read_text(), ".ci/run must call the README's test command"

def _directives(source:str) -> set:
    return {l[2:].strip().split()[0] for l in source.splitlines() if l.startswith('#|') and l[2:].strip()}

@pytest.mark.parametrize('nb_path', LIBRARY_NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_library_notebook_runs_under_a_real_kernel(nb_path):
    "Readers run notebooks in JupyterLab: execute top to bottom in a python3 kernel from the notebook's folder."
    nb = nbformat.read(nb_path, as_version=4)
    # like nbdev_test, leave out cells flagged slow/cuda/data/notest (they need time, a GPU or real datasets)
    skip = set(settings()['tst_flags'].split())
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and skip & _directives(c.source))]
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(nb_path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert not errors

BLOCK_DEV_TOOLS = """
import sys
for name in ('nbdev', 'fastcore', 'execnb', 'IPython', 'jupyterlab'): sys.modules[name] = None
import importlib, pkgutil, wsss
names = [m.name for m in pkgutil.walk_packages(wsss.__path__, 'wsss.') if not m.name.endswith('_modidx')]
for n in names: importlib.import_module(n)
print(len(names))
"""

def test_library_imports_without_nbdev_or_jupyter():
    out = subprocess.run([sys.executable, '-c', BLOCK_DEV_TOOLS], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) >= 8, out.stdout

def test_wheel_holds_every_module_and_keeps_nbdev_in_the_dev_extra(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(ROOT)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob('wsss-*.whl'))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith('METADATA'))).decode()
        entry = z.read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / 'wsss').rglob('*.py')}
    assert modules <= names, modules - names
    # `wsss reproduce` from a plain install runs the experiment notebooks shipped as package data
    experiments = {f'wsss/experiments/{p.name}' for p in EXPERIMENT_NOTEBOOKS}
    assert experiments and experiments <= names, experiments - names
    requires = [l for l in meta.splitlines() if l.startswith('Requires-Dist:')]
    assert any(l.startswith('Requires-Dist: torch') for l in requires)
    assert all('extra == "dev"' in l for l in requires if 'nbdev' in l)
    assert 'wsss = wsss.cli:main' in entry
