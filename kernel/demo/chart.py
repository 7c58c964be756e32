"""The demo's charts as PNG: each territory's on-time closure rate month by month (each cell with
its count, n of N), and the year's trends: problems by grade, and overdue work by unit.

matplotlib is an optional dependency (``pip install 'huhang[demo]'``) and so is a font with
Chinese glyphs: without one matplotlib draws empty boxes, so the chart refuses to be drawn and
says how to install one (``apt-get install fonts-wqy-microhei`` or ``fonts-noto-cjk``, or
``pip install mplfonts``).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import InputError

#: families with Chinese glyphs, best first (simplified-Chinese forms before Japanese ones)
PREFERRED_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "SimHei",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Source Han Serif SC",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Droid Sans Fallback",
)
INSTALL_HINT = (
    "请安装中文字体后重试：Debian/Ubuntu 用 sudo apt-get install fonts-wqy-microhei"
    "（或 fonts-noto-cjk），无管理员权限时用 .venv/bin/pip install mplfonts"
)


class ChartError(InputError):
    """The chart cannot be drawn (matplotlib or a Chinese font is missing)."""


@dataclass(frozen=True)
class ClosureGrid:
    """On-time closures and closures due, per territory and month, plus the year."""

    title: str
    units: tuple[str, ...]
    months: tuple[str, ...]  # YYYY-MM
    on_time: tuple[tuple[int, ...], ...]
    due: tuple[tuple[int, ...], ...]

    def rate(self, row: int, column: int) -> float | None:
        """On time ÷ due, None when nothing fell due."""
        due = self.due[row][column]
        return self.on_time[row][column] / due if due else None

    def year_rate(self, row: int) -> float | None:
        """The rate over the whole period."""
        due = sum(self.due[row])
        return sum(self.on_time[row]) / due if due else None


def _font_paths() -> list[Path]:
    from matplotlib import font_manager

    paths = {Path(entry.fname) for entry in font_manager.fontManager.ttflist}
    # fonts installed after matplotlib built its cache are not in ttflist
    paths.update(Path(p) for p in font_manager.findSystemFonts())
    spec = importlib.util.find_spec("mplfonts")
    if spec is not None and spec.origin is not None:
        paths.update((Path(spec.origin).parent / "fonts").glob("*.[ot]t[fc]"))
    return sorted(paths)


def find_chinese_font(text: str) -> Path:
    """The best installed font that has a glyph for every character of ``text``."""
    from matplotlib import ft2font

    needed = {ord(ch) for ch in text if not ch.isspace()}
    found: list[tuple[int, str, Path]] = []
    for path in _font_paths():
        try:
            face = ft2font.FT2Font(str(path))
        except (OSError, RuntimeError, ValueError):
            continue
        family = str(face.family_name)
        rank = PREFERRED_FONTS.index(family) if family in PREFERRED_FONTS else len(PREFERRED_FONTS)
        if needed <= set(face.get_charmap()):
            found.append((rank, str(path), path))
    if not found:
        raise ChartError(f"没有找到能显示中文的字体，无法生成图表。{INSTALL_HINT}")
    return min(found)[2]


def draw_closure_chart(grid: ClosureGrid, path: Path, *, subtitle: str = "") -> Path:
    """Draw ``grid`` as a heat map (territories × months, plus the year) and save it as PNG.

    Returns the font file used. Raises :class:`ChartError` without matplotlib or a Chinese
    font.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import font_manager
        from matplotlib import pyplot as plt
        from matplotlib.colors import LinearSegmentedColormap
    except ImportError:
        raise ChartError(
            "未安装 matplotlib，无法生成图表：请运行 .venv/bin/pip install 'huhang[demo]'"
        ) from None
    columns = [f"{int(m[5:])}月" for m in grid.months] + ["全年"]
    labels = [grid.title, subtitle, "按期办结率", "当月无到期事项", "—", *grid.units, *columns]
    font = find_chinese_font("".join(labels) + "0123456789%")
    font_manager.fontManager.addfont(str(font))
    family = font_manager.FontProperties(fname=str(font)).get_name()
    rows = len(grid.units)
    values: list[list[float]] = []
    for r in range(rows):
        rates = [grid.rate(r, c) for c in range(len(grid.months))] + [grid.year_rate(r)]
        values.append([math.nan if v is None else v for v in rates])
    with matplotlib.rc_context(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [family, "DejaVu Sans"],
            "axes.unicode_minus": False,
        }
    ):
        fig, ax = plt.subplots(figsize=(12.5, 1.6 + 0.62 * rows), dpi=130)
        cmap = LinearSegmentedColormap.from_list(
            "closure", ["#c0392b", "#f1c40f", "#27ae60"]
        ).with_extremes(bad="#e5e7e9")
        image = ax.imshow(values, cmap=cmap, vmin=0.5, vmax=1.0, aspect="auto")
        for r, line in enumerate(values):
            for c, value in enumerate(line):
                size = 9 if c == len(line) - 1 else 8
                ax.text(
                    c, r, _cell_text(grid, r, c, value), ha="center", va="center", fontsize=size
                )
        ax.set_xticks(range(len(columns)), columns, fontsize=10)
        ax.set_yticks(range(rows), _labels(grid.units), fontsize=10)
        ax.xaxis.tick_top()
        ax.axvline(len(columns) - 1.5, color="white", linewidth=4)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(grid.title, fontsize=14, pad=30)
        bar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.015, format="{x:.0%}", extend="min")
        bar.set_label("按期办结率", fontsize=10)
        if subtitle:
            fig.text(0.01, 0.01, subtitle, fontsize=9, color="#555555")
        fig.tight_layout(rect=(0, 0.04 if subtitle else 0, 1, 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, metadata={"Software": None})
        plt.close(fig)
    return font


def _labels(units: Sequence[str]) -> list[str]:
    return [u.replace("汉中经济技术开发区", "汉中经开区") for u in units]


def _cell_text(grid: ClosureGrid, row: int, column: int, value: float) -> str:
    """The rate and its count (on time / due): 0% of 1 and 0% of 40 must look different."""
    if math.isnan(value):
        return "—"
    if column == len(grid.months):
        on_time, due = sum(grid.on_time[row]), sum(grid.due[row])
    else:
        on_time, due = grid.on_time[row][column], grid.due[row][column]
    return f"{value:.0%}\n{on_time}/{due}"


@dataclass(frozen=True)
class Trends:
    """The year month by month: problems collected by grade, overdue items at month end by unit."""

    title: str
    months: tuple[str, ...]  # YYYY-MM
    by_grade: dict[str, tuple[int, ...]]  # grade -> count per month
    overdue_by_unit: dict[str, tuple[int, ...]]  # unit -> overdue items at each month's end


def draw_trend_chart(trends: Trends, path: Path, *, top: int = 10) -> Path:
    """Two panels: stacked bars of problems by grade, and lines of the ``top`` units with the
    most overdue items. Returns the font file used; :class:`ChartError` as for the heat map."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import font_manager
        from matplotlib import pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ChartError(
            "未安装 matplotlib，无法生成图表：请运行 .venv/bin/pip install 'huhang[demo]'"
        ) from None
    columns = [f"{int(m[5:])}月" for m in trends.months]
    worst = sorted(trends.overdue_by_unit, key=lambda u: (-sum(trends.overdue_by_unit[u]), u))
    worst = [u for u in worst[:top] if sum(trends.overdue_by_unit[u])]
    labels = [
        trends.title,
        "各等级问题数（按收集月份）",
        "月末超期事项数（前 10 个单位）",
        "级",
        "件",
    ]
    font = find_chinese_font("".join([*labels, *columns, *_labels(worst), *trends.by_grade]))
    font_manager.fontManager.addfont(str(font))
    family = font_manager.FontProperties(fname=str(font)).get_name()
    with matplotlib.rc_context(
        {"font.family": "sans-serif", "font.sans-serif": [family, "DejaVu Sans"]}
    ):
        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), dpi=120)
        bottom = [0] * len(columns)
        for grade, counts in trends.by_grade.items():
            bars = left.bar(columns, counts, bottom=bottom, label=f"{grade} 级")
            left.bar_label(
                bars, labels=[str(n) if n else "" for n in counts], label_type="center", fontsize=7
            )
            bottom = [b + n for b, n in zip(bottom, counts, strict=True)]
        for x, total in enumerate(bottom):
            left.text(x, total, str(total), ha="center", va="bottom", fontsize=8)
        left.set_title("各等级问题数（按收集月份）", fontsize=12)
        left.set_ylabel("件")
        left.legend(fontsize=9)
        for unit, label in zip(worst, _labels(worst), strict=True):
            right.plot(columns, trends.overdue_by_unit[unit], marker="o", markersize=3, label=label)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_title(f"月末超期事项数（前 {top} 个单位）", fontsize=12)
        right.set_ylabel("件")
        if worst:
            right.legend(fontsize=8, ncols=2)
        fig.suptitle(trends.title, fontsize=14)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, metadata={"Software": None})
        plt.close(fig)
    return font
