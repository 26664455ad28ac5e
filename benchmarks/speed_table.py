"""The README's speed tables, rendered from the files `run_all.py` writes (benchmarks/results/summary.json).

    python benchmarks/run_all.py --quick          # measure: every ratio side by side in one run
    python benchmarks/speed_table.py              # rewrite the tables in nbs/index.ipynb from the results
    python .ci/render_readme.py                   # README.md from the notebook
    python benchmarks/speed_table.py --print      # print the tables only

The tables sit in the "Speed" cell of nbs/index.ipynb between the markers below; everything else in that cell is prose
written by hand. tests/test_project.py checks that the committed tables are what this script renders from the
committed results.
"""
import argparse, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results' / 'summary.json'
INDEX = ROOT / 'nbs' / 'index.ipynb'
START, END = '<!-- speed-tables: benchmarks/speed_table.py -->', '<!-- /speed-tables -->'
SIDE_BY_SIDE = 'bench_backbones'  # its two columns are two backbones, not ours vs an official-style loop


def _fmt(v) -> str:
    if v is None: return '-'
    return f'{v:.3g}' if abs(v) < 1000 else f'{v:,.0f}'


def render(summary:dict) -> str:
    "Markdown of the speed tables (ours vs official style; the backbones side by side) for one run_all summary."
    env = summary['environment']
    head = (f"Measured {env['date'][:10]} by `python benchmarks/run_all.py{' --quick' if summary.get('quick') else ''}` on {env['cpu']}, "
            f"{env['cores']} cores, device {env['device']}, torch {env['torch']}, torchvision {env['torchvision']} "
            f"(wall-clock rates of one run; `benchmarks/results/` holds every setting):")
    lines = [head, '', '| benchmark | measurement | ours | official style | ratio |', '|---|---|---:|---:|---:|']
    for r in summary['rows']:
        if r['script'] == SIDE_BY_SIDE: continue
        ratio = f"{r['ratio']:.2f}x" if r.get('ratio') else '-'
        lines.append(f"| {r['script']} | {r['name']} | {_fmt(r['ours'])} {r['unit']} | {_fmt(r['official_style'])} {r['unit']} | {ratio} |")
    back = [r for r in summary['rows'] if r['script'] == SIDE_BY_SIDE]
    if back:
        lines += ['', 'The pretrained backbone of the real-photo profile beside the synthetic benchmark\'s tiny net (`bench_backbones.py`):', '',
                  '| measurement | EfficientNet-Lite0 (ImageNet) | tiny (random init) |', '|---|---:|---:|']
        lines += [f"| {r['name']} | {_fmt(r['ours'])} | {_fmt(r['official_style'])} |" for r in back]
    if summary.get('failed'): lines += ['', f"Failed in that run: {', '.join(summary['failed'])}."]
    return '\n'.join(lines)


def update_notebook(tables:str, index:Path=INDEX) -> bool:
    "Replace the text between the markers in the index notebook; True when it changed."
    nb = json.loads(index.read_text())
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if START in src and END in src:
            a, b = src.index(START) + len(START), src.index(END)
            new = src[:a] + '\n' + tables + '\n' + src[b:]
            if new == src: return False
            cell['source'] = new.splitlines(keepends=True)
            index.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
            return True
    sys.exit(f'{index}: no cell holds the markers {START} ... {END}')


def committed_tables(index:Path=INDEX) -> str:
    "The tables as they stand in the notebook (for the consistency test)."
    for cell in json.loads(index.read_text())['cells']:
        src = ''.join(cell['source'])
        if START in src and END in src: return src[src.index(START) + len(START):src.index(END)].strip('\n')
    return ''


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--results', default=str(RESULTS))
    ap.add_argument('--print', action='store_true', help='print the tables, change nothing')
    a = ap.parse_args()
    tables = render(json.loads(Path(a.results).read_text()))
    if a.print: print(tables)
    else: print(f"{INDEX}: {'tables rewritten' if update_notebook(tables) else 'tables already current'}; now run .ci/render_readme.py")
