"""Layout of the figures (issue 20): saved at the papers' 300 dpi, every series in its own
style, and no title, label or legend drawn over another title or over the data."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sfl_opt.experiments.plots as plots  # noqa: E402
from sfl_opt.experiments.sweep import SweepRow, SweepTable  # noqa: E402

DPI = 300


@pytest.fixture
def captured(monkeypatch):
    """The figures passed to ``plots.save`` (still drawable after it closes them)."""
    figs: dict[str, plt.Figure] = {}
    real = plots.save

    def spy(fig, stem, header, rows):
        figs[str(stem).rsplit("/", 1)[-1]] = fig
        return real(fig, stem, header, rows)

    monkeypatch.setattr(plots, "save", spy)
    import sfl_opt.online.plots as oplots

    monkeypatch.setattr(oplots, "save", spy)
    return figs


def _renderer(fig):
    """A renderer of ``fig`` after drawing it as saved (the figures' style): positions
    of labels and ticks are only up to date after a draw."""
    if getattr(fig, "_drawn_for_test", None) is None:
        if not hasattr(fig.canvas, "get_renderer"):  # closed by save(): a new canvas
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(fig)
        renderer = fig.canvas.get_renderer()
        with plots.paper_style():
            fig.draw(renderer)
        fig._drawn_for_test = renderer
    return fig._drawn_for_test


def _extent(artist, fig):
    return artist.get_window_extent(_renderer(fig))


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _png_width(path) -> int:
    return plt.imread(str(path)).shape[1]


def _series_styles(ax) -> list[tuple]:
    handles, _ = ax.get_legend_handles_labels()
    out = []
    for h in handles:
        if hasattr(h, "get_marker"):
            out.append((matplotlib.colors.to_hex(h.get_color()), h.get_marker(),
                        h.get_linestyle()))
    return out


def _inside_figure(artist, fig) -> bool:
    e = _extent(artist, fig)
    return e.x0 >= 0 and e.y0 >= 0 and e.x1 <= fig.bbox.x1 + 0.5 and e.y1 <= fig.bbox.y1 + 0.5


# ------------------------------------------------------------ radio figures
def _band_tables() -> dict[str, SweepTable]:
    from sfl_opt.experiments.radio_figures import BAND_CONFIGS

    out = {}
    for j, label in enumerate(BAND_CONFIGS):
        rows = [SweepRow("clients", float(k), "sflllm", s, 10.0 * k * (1 + 0.1 * j + 0.01 * s),
                         1, 4, "feasible", 0.1) for k in (2, 6, 12, 20) for s in range(3)]
        out[label] = SweepTable(rows)
    return out


def _fading_rows() -> list[dict]:
    from sfl_opt.experiments.radio_figures import FADING_POLICIES

    rows = []
    for label in FADING_POLICIES:
        for rho in (0.0, 0.5, 0.9, 1.0):
            for s in range(3):  # identical ratios: the series lie on top of each other
                rows.append({"policy": label, "rho": rho, "total": 100.0, "nominal": 100.0,
                             "reopt_ms": 1.0, "bound": 98.0, "bound_kind": "relaxation",
                             "seed": s})
    return rows


def test_band_figure_size_styles_and_labels(tmp_path, captured):
    from sfl_opt.experiments.radio_figures import plot_band

    paths = plot_band(_band_tables(), tmp_path / "band_vs_clients")
    assert _png_width(paths[0]) >= 3.0 * DPI  # was 350 px (saved at 100 dpi)
    fig = captured["band_vs_clients"]
    ax = fig.axes[0]
    styles = _series_styles(ax)
    assert len(styles) == 4 and len({(c, m) for c, m, _ in styles}) == 4
    assert _inside_figure(ax.xaxis.label, fig) and _inside_figure(ax.yaxis.label, fig)


def test_fading_figure_size_styles_and_labels(tmp_path, captured):
    from sfl_opt.experiments.radio_figures import plot_fading

    paths = plot_fading(_fading_rows(), tmp_path / "fading_vs_rho")
    assert _png_width(paths[0]) >= 3.0 * DPI
    fig = captured["fading_vs_rho"]
    ax = fig.axes[0]
    styles = _series_styles(ax)
    assert len(styles) == 4 and len({(c, m, ls) for c, m, ls in styles}) == 4
    assert len({(c, m) for c, m, _ in styles}) == 4
    # equal medians stay visible: the series are drawn side by side (dodged)
    xs = [tuple(np.round(line.get_xdata(), 6)) for line in ax.get_lines()
          if line.get_label() in ("static allocation", "adaptive",
                                  "adaptive, SAA (split, rank)")]
    assert len(set(xs)) == 3
    assert _inside_figure(ax.xaxis.label, fig)


# ------------------------------------------------------------ online figures
@pytest.fixture(scope="module")
def traces():
    from sfl_opt.online import OnlineProblem, simulate

    p = OnlineProblem.default(seed=0, devices=6)
    sweep = [simulate(p, "lyapunov", V=v, rounds=300, seed=0, progress=False)
             for v in (1e2, 1e3, 1e4, 1e5, 1e6)]
    every = simulate(p, "all", V=0.0, rounds=300, seed=0, progress=False)
    return sweep, every


def test_online_energy_title_clears_the_panel_titles(tmp_path, captured, traces):
    from sfl_opt.online.plots import energy_figure

    sweep, every = traces
    paths = energy_figure({"lyapunov": sweep[2], "all": every}, tmp_path)
    assert _png_width(paths[0]) >= 3.0 * DPI
    fig = captured["online_energy"]
    sup = _extent(fig._suptitle, fig)
    for ax in fig.axes:
        assert not _overlap(sup, _extent(ax.title, fig))
        assert not _overlap(sup, _extent(ax.patch, fig))


def test_online_queues_legend_is_off_the_curves(tmp_path, captured, traces):
    from sfl_opt.online.plots import queues_figure

    queues_figure(traces[0], tmp_path)
    fig = captured["online_queues"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    assert not _overlap(_extent(legend, fig), _extent(ax.patch, fig))
    assert not _overlap(_extent(legend, fig), _extent(ax.title, fig))


# ------------------------------------------------------------ split map
def test_split_map_device_labels_clear_the_markers(tmp_path, captured):
    cells = [SimpleNamespace(clients=k, client_flops=f, split=1 if f * k < 30e12 else 11,
                             rank=4, delay=1.0, last=11, side="first")
             for k in (1, 2, 3, 5, 8, 12, 20, 30)
             for f in (0.25e12, 0.5e12, 1e12, 2e12, 4e12, 8e12, 16e12, 32e12)]
    devices = {"jetson-agx-orin-64gb": 12.8e12, "laptop-rtx-4060": 10.2e12,
               "jetson-orin-nano-8gb": 3.1e12, "iphone-15-pro-npu": 0.9e12,
               "ipad-pro-m2-gpu": 0.88e12}
    plots.plot_split_map(cells, tmp_path / "split_map", server_flops=30e12,
                         server_name="L4", devices=devices)
    fig = captured["split_map"]
    ax = fig.axes[0]
    renderer = _renderer(fig)
    # the device names: texts in the axes or tick labels of a names axis
    labels = [t for a in fig.axes for t in a.texts if t.get_text()]
    labels += [t for a in fig.axes[1:] for t in a.get_yticklabels()
               if any(n in t.get_text() for n in devices)]
    assert {n for t in labels for n in devices if n in t.get_text()} == set(devices)
    offsets = ax.collections[0].get_offsets()
    centres = ax.transData.transform(offsets)
    half = np.sqrt(28.0) / 2 * fig.dpi / 72.0  # marker s=28 pt^2, a square
    boxes = [matplotlib.transforms.Bbox([[x - half, y - half], [x + half, y + half]])
             for x, y in centres]
    for t in labels:
        e = t.get_window_extent(renderer)
        assert not any(_overlap(e, b) for b in boxes), t.get_text()
    legend = ax.get_legend().get_window_extent(renderer)
    assert not any(_overlap(legend, b) for b in boxes)
