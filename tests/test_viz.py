"wsss.viz: palette colours, heatmaps, overlays, grids, atomic figure files, tables, headless backend."
import os, subprocess, sys
import numpy as np, pytest
from PIL import Image
from wsss.core import ConfigError, DataError
from wsss.viz import (apply_style, cam_heatmap, colorize_labels, image_grid, markdown_table, overlay_cam, overlay_labels,
                      plot_confusion, plot_threshold_curve, save_figure)

def test_voc_palette_colours():
    rgb = colorize_labels(np.array([[0, 1, 2, 3], [12, 15, 20, 255]], np.uint8))
    assert rgb[0].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert rgb[1].tolist() == [[64, 0, 128], [192, 128, 128], [0, 64, 128], [255, 255, 255]]  # dog, person, tvmonitor, void
    assert colorize_labels(np.array([[255]]), ignore_color=(0, 0, 0))[0, 0].tolist() == [0, 0, 0]

def test_real_voc_label_matches_its_png_palette(voc_mini):
    """Rendering a VOC mask with our palette reproduces the colours stored in the official PNG."""
    path = sorted((voc_mini / 'SegmentationClass').glob('*.png'))[0]
    im = Image.open(path)
    lab = np.array(im)
    official = np.array(im.convert('RGB'))
    ours = colorize_labels(lab, ignore_color=tuple(official[lab == 255][0]) if (lab == 255).any() else (255, 255, 255))
    assert np.array_equal(ours, official)

def test_bad_inputs():
    with pytest.raises(DataError, match='H x W'): colorize_labels(np.zeros((2, 2, 3), int))
    with pytest.raises(DataError, match='integers'): colorize_labels(np.zeros((2, 2)))
    with pytest.raises(DataError, match='0..255'): colorize_labels(np.array([[256]]))
    with pytest.raises(DataError, match='one channel'): cam_heatmap(np.zeros((2, 2, 2)))
    with pytest.raises(ConfigError, match='cmap'): cam_heatmap(np.zeros((2, 2)), cmap='nope')
    with pytest.raises(DataError, match='cam is 3x3'): overlay_cam(np.zeros((2, 2, 3), np.uint8), np.zeros((3, 3)))
    with pytest.raises(DataError, match='uint8'): overlay_labels(np.zeros((2, 2, 3)), np.zeros((2, 2), int))
    with pytest.raises(ConfigError, match='alpha'): overlay_cam(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2)), alpha=2)
    with pytest.raises(ConfigError, match='col_titles'): image_grid([[np.zeros((2, 2), int)]], col_titles=['a', 'b'])
    with pytest.raises(DataError, match='equal length'): plot_threshold_curve([0.1, 0.2], [0.3])

def test_heatmap_and_overlays():
    h = cam_heatmap(np.linspace(0, 1, 11)[None])
    assert h.shape == (1, 11, 3) and h.dtype == np.uint8
    assert h[0, 0, 2] > h[0, 0, 0] and h[0, -1, 0] > h[0, -1, 2]  # jet: blue (low) to red (high)
    assert np.array_equal(cam_heatmap(np.array([[-1.0, 2.0]])), cam_heatmap(np.array([[0.0, 1.0]])))  # clipped
    img = np.full((3, 3, 3), 50, np.uint8)
    assert np.array_equal(overlay_cam(img, np.ones((3, 3)), alpha=1), cam_heatmap(np.ones((3, 3))))
    lab = np.zeros((3, 3), np.uint8); lab[1, 1] = 1
    out = overlay_labels(img, lab, alpha=1.0)
    assert out[1, 1].tolist() == [128, 0, 0] and out[0, 0].tolist() == [50, 50, 50]

def test_figures_are_written_atomically(tmp_path):
    apply_style()
    fig = image_grid([[np.zeros((8, 10, 3), np.uint8), np.eye(8, 10), np.eye(8, 10, dtype=np.uint8)]],
                     col_titles=['a', 'b', 'c'], row_titles=['r'])
    p = save_figure(fig, tmp_path / 'sub' / 'g.png')
    assert Image.open(p).format == 'PNG' and sorted(os.listdir(tmp_path / 'sub')) == ['g.png']
    ax = plot_threshold_curve(np.arange(0.1, 0.6, 0.1), [0.2, 0.4, 0.5, 0.45, 0.3], label='x')
    assert ax.lines[1].get_xdata()[0] == pytest.approx(0.3)  # the best threshold is marked
    assert save_figure(ax.figure, tmp_path / 'c.svg').read_text().lstrip().startswith('<?xml')
    ax = plot_confusion(np.array([[5, 5], [0, 10]]), ['bg', 'fg'])
    assert ax.collections[0].get_array().reshape(2, 2).tolist() == [[0.5, 0.5], [0.0, 1.0]]
    with pytest.raises(ConfigError, match='suffix'): save_figure(ax.figure, tmp_path / 'x.jpg')
    assert sorted(os.listdir(tmp_path)) == ['c.svg', 'sub']

def test_markdown_table():
    t = markdown_table([{'m': 'a|b', 'v': 1.25, 'n': 3}, {'m': 'c', 'v': float('nan')}], ['m', 'v', 'n'], floatfmt='.2f')
    assert t.splitlines() == ['| m | v | n |', '|---|---|---|', '| a\\|b | 1.25 | 3 |', '| c |  |  |']

def test_headless_import_uses_agg():
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'MPLBACKEND')}
    out = subprocess.run([sys.executable, '-c', 'import wsss.viz, matplotlib; print(matplotlib.get_backend())'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip().lower() == 'agg', out.stderr
