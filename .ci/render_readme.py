"""Render README.md from nbs/index.ipynb without Quarto (which cannot be installed here).

`python .ci/render_readme.py` rewrites README.md; `--check` exits 1 when README.md is stale.
Cells marked `#| hide` are dropped and nbdev directive lines are stripped, as nbdev_readme would.
"""
import argparse, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import Preprocessor

ROOT = Path(__file__).resolve().parents[1]

class DropNbdevDirectives(Preprocessor):
    "Remove `#| hide` cells and strip `#|` directive lines from the rest."
    def preprocess(self, nb, resources):
        cells = []
        for cell in nb.cells:
            lines = cell.source.splitlines()
            directives = [l.replace(' ', '') for l in lines if l.startswith('#|')]
            if '#|hide' in directives: continue
            cell.source = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
            cells.append(cell)
        nb.cells = cells
        return nb, resources

def render(index=ROOT/'nbs'/'index.ipynb') -> str:
    nb = nbformat.read(index, as_version=4)
    exporter = MarkdownExporter()
    exporter.register_preprocessor(DropNbdevDirectives(), enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    header = '<!-- generated from nbs/index.ipynb by .ci/render_readme.py: edit the notebook, not this file -->\n\n'
    return header + body.strip() + '\n'

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='exit 1 if README.md differs from the rendered notebook')
    args = ap.parse_args()
    text, readme = render(), ROOT/'README.md'
    if args.check:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md is stale: run `python .ci/render_readme.py` after editing nbs/index.ipynb')
        print('README.md is up to date')
    else:
        readme.write_text(text)
        print(f'wrote {readme}')
