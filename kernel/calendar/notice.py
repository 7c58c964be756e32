"""Read the State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知).

The text is taken as published -- pasted from the government website, a newspaper or a wire
copy -- and turned into a :class:`~kernel.calendar.workdays.CalendarYear`:

* the numbered lines ``一、元旦：…``, ``六、国庆节、中秋节：…`` give one holiday range each and the
  weekend days worked instead (``…上班``);
* the wordings used since at least 2014 are understood: ranges ``X月X日至Y日`` (also across a
  month or a year), ``放假调休，共N天``, ``放假1天，不调休``, ``与周末连休``, ``X月X日（星期一）补休``,
  brackets with the weekday (``星期六``, ``周六``) and 农历 notes (``农历除夕、周二``);
  full-width or half-width punctuation, simplified or traditional characters;
* the title, the document number (国办发明电〔2025〕7号) and the date line are read when present.

Everything read is checked, and every mismatch is reported with the notice's line: a weekday
or 农历 date in brackets that is not the date's, a range that leaves out a statutory day of the
festival under the law in force (:mod:`kernel.calendar.statutory`), a makeup day that is not a
Saturday or Sunday, a total ``共N天`` that is not the length of the range.

Later notices that change a year (延长2020年春节假期, 调整2019年劳动节假期安排) are read too and
applied to the year already on file (:func:`amend_year`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field, replace

from kernel.calendar import lunar
from kernel.calendar.statutory import FESTIVALS, law_in_force
from kernel.calendar.workdays import Amendment, CalendarYear, Holiday, MakeupWorkday
from kernel.errors import Problem, ProblemsError

__all__ = [
    "ADJUSTMENT",
    "ARRANGEMENT",
    "EXTENSION",
    "MAX_NOTICE_CHARS",
    "Notice",
    "NoticeItem",
    "amend_year",
    "parse_notice",
    "year_from_notice",
]

ARRANGEMENT, EXTENSION, ADJUSTMENT = "arrangement", "extension", "adjustment"
#: A notice is about 1 500 characters; anything far larger is not one.
MAX_NOTICE_CHARS = 200_000

_WEEKDAYS = "一二三四五六日"
_NUMERALS = "一二三四五六七八九十"

# Traditional characters that occur in the notices, mapped to the simplified ones.
_TRADITIONAL = str.maketrans(
    "國務辦廳關於節勞動慶調週補與連開長農曆歷臘發電號華準現將為這後個單會帶勵結製實際"
    "場區轄屬機構體們衛報處確眾過規時應當數並東車興職鬆薦議戰態歲賽禮貢獻頒佈經黨員團"
    "費傳遞據內協統計劃條間隊優質觀設則導護療醫豐運輸強綜遠進遊啟問題標業",
    "国务办厅关于节劳动庆调周补与连开长农历历腊发电号华准现将为这后个单会带励结制实际"
    "场区辖属机构体们卫报处确众过规时应当数并东车兴职松荐议战态岁赛礼贡献颁布经党员团"
    "费传递据内协统计划条间队优质观设则导护疗医丰运输强综远进游启问题标业",
)
_ASCII_TO_FULL = str.maketrans({":": "：", ",": "，", "(": "（", ")": "）", ";": "；"})

_FESTIVAL = "|".join(FESTIVALS)
_ITEM = re.compile(rf"^([{_NUMERALS}]{{1,3}})、((?:{_FESTIVAL})(?:、(?:{_FESTIVAL}))*)：(.+)$")
_NUMBERED = re.compile(rf"^([{_NUMERALS}]{{1,3}})、(.+)$")
_SPLIT_ITEMS = re.compile(rf"(?<=。)(?=[{_NUMERALS}]{{1,3}}、)")
_TITLE = re.compile(
    r"国务院办公厅关于(?:(延长)|(调整))?(\d{4})年(.{1,12}?)(?:假期)?(?:安排)?的通知"
)
_NUMBER = re.compile(r"国办发明电[〔\[【［](\d{4})[〕\]】］](\d{1,3})号")
_DATE_LINE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_YEAR_IN_BODY = re.compile(r"现将(?:调整)?(\d{4})年")
_DATE = re.compile(
    r"(?:(?P<y>\d{4})年)?(?:(?P<m>\d{1,2})月)?(?P<d>\d{1,2})日(?:（(?P<note>[^）]*)）)?"
)
_RANGE = re.compile(
    rf"^(?P<first>{_DATE.pattern.replace('?P<', '?P<a')})"
    rf"(?:至(?P<last>{_DATE.pattern.replace('?P<', '?P<b')}))?"
    r"放假(?:调休)?(?:(?P<count>\d{1,3})天)?$"
)
_WEEKDAY = re.compile(r"^(?:星期|周)([一二三四五六日天])$")
_EXTEND = re.compile(
    rf"^延长(?P<year>\d{{4}})年(?P<fest>{_FESTIVAL})假期至(?P<to>{_DATE.pattern.replace('?P<', '?P<a')})"
    rf"(?:，(?P<back>{_DATE.pattern.replace('?P<', '?P<b')})起正常上班)?$"
)
# Words that change the schedule: a sentence with one of them must be understood, not noted.
_SCHEDULE_WORDS = ("放假", "上班", "补休", "调休")


@dataclass(frozen=True)
class NoticeItem:
    """One numbered line: a festival's holiday range and makeup days."""

    line: int
    marker: str
    label: str
    festivals: tuple[str, ...]
    start: dt.date
    end: dt.date
    makeup: tuple[dt.date, ...] = ()
    notes: tuple[str, ...] = ()
    text: str = ""

    @property
    def where(self) -> str:
        """``一、元旦`` (how the line is named in messages)."""
        return f"{self.marker}、{self.label}"


@dataclass(frozen=True)
class Notice:
    """A notice as read: what it is, which year, and its items."""

    kind: str
    year: int
    title: str
    number: str | None
    published: dt.date | None
    items: tuple[NoticeItem, ...]
    path: str = "<通知>"

    @property
    def source(self) -> str:
        """The title with the document number, as the year file records it."""
        return f"{self.title}（{self.number}）" if self.number else self.title


@dataclass
class _Reader:
    """Collects located problems while reading one notice."""

    path: str
    problems: list[Problem] = field(default_factory=list)

    def problem(self, line: int, message: str, where: str = "") -> None:
        head = f"通知第 {line} 行" if line else "通知"
        if where:
            head += f"（{where}）"
        self.problems.append(Problem(self.path, line, 0, "NOTICE", f"{head}：{message}"))


# --------------------------------------------------------------------------- text


def normalize(text: str) -> str:
    """Simplified characters, full-width Chinese punctuation, ASCII digits, no spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).translate(_ASCII_TO_FULL)
    return re.sub(r"[ \t\u3000\u00a0\u200b\ufeff]+", "", text)


def _lines(text: str) -> list[tuple[int, str]]:
    """Normalised non-empty lines with their line numbers; run-together items are split."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = normalize(raw)
        for part in _SPLIT_ITEMS.split(line):
            if part:
                out.append((number, part))
    return out


def _md(day: dt.date, year: int | None = None) -> str:
    """``2月2日`` (with the year when it is not ``year``)."""
    prefix = f"{day.year}年" if year is not None and day.year != year else ""
    return f"{prefix}{day.month}月{day.day}日"


def _weekday_word(day: dt.date) -> str:
    return "星期" + _WEEKDAYS[day.weekday()]


# --------------------------------------------------------------------------- dates


def _date_of(
    match: re.Match[str],
    prefix: str,
    year: int,
    month: int | None,
    line: int,
    where: str,
    r: _Reader,
) -> dt.date | None:
    """The date of a ``_DATE`` match (named groups with ``prefix``); year and month may default."""
    y, m, d = (match.group(prefix + k) for k in ("y", "m", "d"))
    the_year = int(y) if y else year
    the_month = int(m) if m else month
    if the_month is None:
        r.problem(line, f"日期“{match.group(0)}”缺少月份", where)
        return None
    try:
        day = dt.date(the_year, the_month, int(d))
    except ValueError:
        r.problem(line, f"“{match.group(0)}”不是有效的日期", where)
        return None
    note = match.group(prefix + "note")
    if note:
        _check_bracket(day, note, line, where, r)
    return day


def _check_bracket(day: dt.date, note: str, line: int, where: str, r: _Reader) -> None:
    """Check the weekday and 农历 date written in brackets after a date."""
    for part in re.split(r"[、，]", note):
        weekday = _WEEKDAY.match(part)
        if weekday:
            stated = "日" if weekday.group(1) == "天" else weekday.group(1)
            if _WEEKDAYS.index(stated) != day.weekday():
                r.problem(
                    line,
                    f"{_md(day)}标注为“{part}”，实际是{_weekday_word(day)}",
                    where,
                )
            continue
        when = lunar.parse_lunar_day(part)
        if when is None or not lunar.FIRST_YEAR <= day.year <= lunar.LAST_YEAR:
            continue  # other annotations do not change the schedule
        if not lunar.matches(day, when):
            _, actual = lunar.from_solar(day)
            r.problem(line, f"{_md(day)}标注为“{part}”，实际是农历{_lunar_words(actual)}", where)


def _lunar_words(when: lunar.LunarDay) -> str:
    month, day, leap = when
    names = ["正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊"]
    tens = {1: "初", 2: "十", 3: "廿"}
    if day == 10:
        words = "初十"
    elif day == 20:
        words = "二十"
    elif day == 30:
        words = "三十"
    else:
        words = tens[day // 10 + 1] + "一二三四五六七八九"[day % 10 - 1]
    return f"{'闰' if leap else ''}{names[month - 1]}月{words}"


# --------------------------------------------------------------------------- items


def _parse_range(
    sentence: str, year: int, line: int, where: str, r: _Reader
) -> tuple[dt.date, dt.date, list[str]] | None:
    """A holiday sentence → (first day, last day, notes); problems go to ``r``."""
    clauses = sentence.split("，")
    match = _RANGE.match(clauses[0])
    if match is None:
        r.problem(line, f"无法识别的放假安排“{sentence}”", where)
        return None
    first = _date_of(match, "a", year, None, line, where, r)
    if first is None:
        return None
    last = first
    if match.group("last"):
        last_date = _date_of(match, "b", first.year, first.month, line, where, r)
        if last_date is None:
            return None
        last = last_date
    if last < first:
        r.problem(line, f"放假区间 {first} 至 {last} 的结束日期早于开始日期", where)
        return None
    days = {first, last}
    total = int(match.group("count")) if match.group("count") else None
    notes: list[str] = []
    for clause in clauses[1:]:
        count = re.fullmatch(r"共(\d{1,3})天", clause)
        if count:
            total = int(count.group(1))
            continue
        if clause == "不调休":
            continue
        if re.fullmatch(r"与(?:周末|周六|周日|星期六|星期日|双休日)连休", clause):
            notes.append(sentence + "。")
            continue
        extra = re.fullmatch(rf"({_DATE.pattern})补休", clause)
        if extra:
            inner = _DATE.fullmatch(extra.group(1))
            assert inner is not None
            day = _date_of(inner, "", first.year, first.month, line, where, r)
            if day is None:
                return None
            days.add(day)
            notes.append(sentence + "。")
            continue
        r.problem(line, f"无法识别“{clause}”（在“{sentence}”中）", where)
        return None
    start, end = min(days | {first}), max(days | {last})
    day = start
    while day <= end:
        if not (first <= day <= last or day in days or day.weekday() >= 5):
            r.problem(line, f"补休日与放假日之间的 {day}（{_weekday_word(day)}）不是周末", where)
            return None
        day += dt.timedelta(days=1)
    if total is not None and total != (end - start).days + 1:
        r.problem(
            line,
            f"写明共 {total} 天，但 {start} 至 {end} 是 {(end - start).days + 1} 天",
            where,
        )
    if start.year != year and not any(n == sentence + "。" for n in notes):
        notes.append(sentence + "。")
    return start, end, list(dict.fromkeys(notes))


def _parse_makeup(
    sentence: str, year: int, line: int, where: str, r: _Reader
) -> list[dt.date] | None:
    """``1月26日（周日）、2月8日（周六）上班`` → the dates; None if not such a sentence."""
    if not sentence.endswith("上班"):
        return None
    parts = sentence.removesuffix("上班").split("、")
    matches = [_DATE.fullmatch(part) for part in parts]
    if not all(matches):
        return None
    out = []
    month: int | None = None
    for match in matches:
        assert match is not None
        day = _date_of(match, "", year, month, line, where, r)
        if day is None:
            continue
        month = day.month
        if day.weekday() < 5:
            r.problem(
                line, f"调休上班日 {day} 是{_weekday_word(day)}，调休上班日只能是周六或周日", where
            )
        out.append(day)
    return out


def _parse_body(
    body: str,
    year: int,
    line: int,
    marker: str,
    label: str,
    r: _Reader,
) -> NoticeItem | None:
    where = f"{marker}、{label}"
    sentences = [s for s in body.split("。") if s]
    span: tuple[dt.date, dt.date, list[str]] | None = None
    makeup: list[dt.date] = []
    notes: list[str] = []
    for sentence in sentences:
        days = _parse_makeup(sentence, year, line, where, r)
        if days is not None:
            makeup.extend(days)
        elif "放假" in sentence and span is None:
            span = _parse_range(sentence, year, line, where, r)
            if span is None:
                return None
        elif any(word in sentence for word in _SCHEDULE_WORDS):
            r.problem(line, f"无法识别“{sentence}”", where)
            return None
        else:
            notes.append(sentence + "。")
    if span is None:
        r.problem(line, "没有找到放假日期", where)
        return None
    start, end, range_notes = span
    festivals = tuple(f for f in label.split("、") if f in FESTIVALS)
    return NoticeItem(
        line=line,
        marker=marker,
        label=label,
        festivals=festivals,
        start=start,
        end=end,
        makeup=tuple(makeup),
        notes=(*range_notes, *notes),
        text=body,
    )


def _parse_extension(body: str, line: int, marker: str, r: _Reader) -> NoticeItem | None:
    sentence = body.rstrip("。")
    match = _EXTEND.match(sentence)
    if match is None:
        return None
    year = int(match.group("year"))
    festival = match.group("fest")
    where = f"{marker}、{festival}"
    new_end = _date_of(match, "a", year, None, line, where, r)
    if new_end is None:
        return None
    if match.group("back"):
        back = _date_of(match, "b", year, new_end.month, line, where, r)
        if back is not None:
            gap = [new_end + dt.timedelta(days=i) for i in range(1, (back - new_end).days)]
            if back <= new_end or any(d.weekday() < 5 for d in gap):
                r.problem(line, f"正常上班日 {back} 与延长后的最后一天 {new_end} 不相接", where)
    return NoticeItem(
        line=line,
        marker=marker,
        label=festival,
        festivals=(festival,),
        start=new_end,
        end=new_end,
        notes=(sentence + "。",),
        text=body,
    )


# --------------------------------------------------------------------------- the notice


def parse_notice(text: str, path: str = "<通知>", *, year: int | None = None) -> Notice:
    """Read and check a notice; raise :class:`ProblemsError` listing every problem."""
    r = _Reader(path)
    if len(text) > MAX_NOTICE_CHARS:
        raise ProblemsError(
            [Problem(path, 0, 0, "NOTICE", f"文本过长（{len(text)} 字），不像是一份放假安排通知")]
        )
    lines = _lines(text)
    joined = "".join(line for _, line in lines)
    title_match = _TITLE.search(joined)
    kind = ARRANGEMENT
    title = ""
    title_year: int | None = None
    adjusted: str | None = None
    if title_match is not None:
        title = title_match.group(0)
        title_year = int(title_match.group(3))
        if title_match.group(1):
            kind = EXTENSION
        elif title_match.group(2):
            kind = ADJUSTMENT
            adjusted = next((f for f in FESTIVALS if f in title_match.group(4)), None)
        elif "部分节假日" not in title_match.group(4):
            title, title_year = "", None  # another notice quoted in the text
    body_year = _YEAR_IN_BODY.search(joined)
    found_year = title_year or (int(body_year.group(1)) if body_year else None)
    if year is not None and found_year is not None and year != found_year:
        r.problem(0, f"通知是 {found_year} 年的安排，与指定的 --year {year} 不一致")
    the_year = found_year or year
    if the_year is None:
        raise ProblemsError(
            [
                Problem(
                    path,
                    0,
                    0,
                    "NOTICE",
                    "通知中找不到年份（如“现将2027年元旦……”），请用 --year 指定",
                )
            ]
        )
    if not title:
        title = f"国务院办公厅关于{the_year}年部分节假日安排的通知"
    number_match = _NUMBER.search(joined)
    number = (
        f"国办发明电〔{number_match.group(1)}〕{number_match.group(2)}号" if number_match else None
    )
    published = None
    for line_no, line in lines:
        date_line = _DATE_LINE.match(line)
        if date_line:
            try:
                published = dt.date(*(int(x) for x in date_line.groups()))
            except ValueError:
                r.problem(line_no, f"落款日期“{line}”不是有效的日期")

    items: list[NoticeItem] = []
    for line_no, line in lines:
        if kind == ARRANGEMENT:
            match = _ITEM.match(line)
            if match is None:
                numbered = _NUMBERED.match(line)
                if numbered and any(w in line for w in ("放假", "上班")):
                    r.problem(line_no, f"无法识别的一项“{line}”（应为“一、元旦：……”的形式）")
                continue
            item = _parse_body(match.group(3), the_year, line_no, match.group(1), match.group(2), r)
        elif kind == EXTENSION:
            numbered = _NUMBERED.match(line)
            if numbered is None or not numbered.group(2).startswith("延长"):
                continue
            item = _parse_extension(numbered.group(2), line_no, numbered.group(1), r)
            if item is None:
                r.problem(line_no, f"无法识别的延长安排“{numbered.group(2)}”")
        else:
            numbered = _NUMBERED.match(line)
            if numbered is None or "放假" not in numbered.group(2):
                continue
            if adjusted is None:
                r.problem(line_no, "通知标题中没有写明调整哪个节日")
                continue
            item = _parse_body(numbered.group(2), the_year, line_no, numbered.group(1), adjusted, r)
        if item is not None:
            items.append(item)
    notice = Notice(kind, the_year, title, number, published, tuple(items), path)
    if not items and not r.problems:
        r.problem(0, "没有找到任何放假安排（每项应为“一、元旦：1月1日放假……”的形式）")
    if kind == ARRANGEMENT and items:
        _check_arrangement(notice, r)
    elif kind == ADJUSTMENT:
        for item in items:
            _check_statutory(item, the_year, r)
    if r.problems:
        raise ProblemsError(r.problems, f"通知有 {len(r.problems)} 个问题，未写入任何文件")
    return notice


def _check_statutory(item: NoticeItem, year: int, r: _Reader) -> None:
    """The range must hold every statutory day of its festivals under the law in force."""
    law = law_in_force(dt.date(year, 1, 1))
    if law is None:
        r.problem(
            item.line, f"没有 {year} 年施行的《全国年节及纪念日放假办法》版本，无法核对", item.where
        )
        return
    if not lunar.FIRST_YEAR <= year <= lunar.LAST_YEAR:
        return
    for festival in item.festivals:
        for day in law.days(festival, year):
            if not item.start <= day <= item.end:
                r.problem(
                    item.line,
                    f"{festival}的法定假日 {day}（{_weekday_word(day)}）不在放假区间 "
                    f"{item.start} 至 {item.end} 内（依据 {law.label}）",
                    item.where,
                )


def _check_arrangement(notice: Notice, r: _Reader) -> None:
    """Checks across the items of a year's arrangement."""
    year = notice.year
    law = law_in_force(dt.date(year, 1, 1))
    seen: dict[str, NoticeItem] = {}
    off: dict[dt.date, NoticeItem] = {}
    window = (dt.date(year - 1, 12, 25), dt.date(year, 12, 31))
    for item in notice.items:
        _check_statutory(item, year, r)
        for festival in item.festivals:
            if festival in seen:
                r.problem(item.line, f"{festival}已在第 {seen[festival].line} 行安排", item.where)
            seen[festival] = item
        if not (window[0] <= item.start and item.end <= window[1]):
            r.problem(
                item.line, f"放假区间 {item.start} 至 {item.end} 不在 {year} 年内", item.where
            )
        day = item.start
        while day <= item.end:
            if day in off:
                r.problem(item.line, f"{day} 已在第 {off[day].line} 行放假", item.where)
            off[day] = item
            day += dt.timedelta(days=1)
    for item in notice.items:
        for day in item.makeup:
            if day in off:
                r.problem(
                    item.line, f"调休上班日 {day} 同时在第 {off[day].line} 行放假", item.where
                )
            if not window[0] <= day <= window[1]:
                r.problem(item.line, f"调休上班日 {day} 不在 {year} 年内", item.where)
    if law is not None and not r.problems:  # a line not understood is reported already
        for festival in law.festivals:
            if festival not in seen:
                r.problem(0, f"通知中没有{festival}的安排（{law.label}规定{festival}放假）")


# --------------------------------------------------------------------------- to a year


def year_from_notice(notice: Notice, *, published: dt.date | None = None) -> CalendarYear:
    """The calendar year of an arrangement notice."""
    if notice.kind != ARRANGEMENT:
        raise ValueError("year_from_notice needs the year's arrangement, not an amending notice")
    when = notice.published or published
    if when is None:
        raise ProblemsError(
            [
                Problem(
                    notice.path,
                    0,
                    0,
                    "NOTICE",
                    "通知中没有落款日期（如“2025年11月4日”），请用 --published 指定发布日期",
                )
            ]
        )
    law = law_in_force(dt.date(notice.year, 1, 1))
    note = law.first_year_note() if law is not None and law.effective.year == notice.year else ""
    holidays = tuple(
        Holiday(item.label, item.start, item.end, "".join(item.notes)) for item in notice.items
    )
    makeups = tuple(MakeupWorkday(day, item.label) for item in notice.items for day in item.makeup)
    return CalendarYear(
        year=notice.year,
        source=notice.source,
        published=when,
        holidays=holidays,
        makeup_workdays=makeups,
        note=note,
    )


def amend_year(
    base: CalendarYear, notice: Notice, *, published: dt.date | None = None
) -> CalendarYear:
    """Apply an amending notice (延长…假期, 调整…安排) to the year on file."""
    r = _Reader(notice.path)
    when = notice.published or published
    if when is None:
        r.problem(0, "通知中没有落款日期，请用 --published 指定发布日期")
    if notice.year != base.year:
        r.problem(0, f"通知调整的是 {notice.year} 年，日历文件是 {base.year} 年")
    if any(a.source == notice.source for a in base.amendments):
        r.problem(0, f"{base.year} 年的日历文件已经记录了这份通知")
    ref = notice.number or notice.title
    holidays = list(base.holidays)
    makeups = list(base.makeup_workdays)
    summary: list[str] = []
    for item in notice.items:
        festival = item.festivals[0]
        index = next((i for i, h in enumerate(holidays) if festival in h.name.split("、")), None)
        if index is None:
            r.problem(item.line, f"{base.year} 年的日历文件中没有{festival}", item.where)
            continue
        old = holidays[index]
        if notice.kind == EXTENSION:
            if item.end <= old.end:
                r.problem(
                    item.line, f"延长后的最后一天 {item.end} 不晚于原定的 {old.end}", item.where
                )
                continue
            start, end = old.start, item.end
            change = f"延长至{_md(end, base.year)}"
            dropped = [m for m in makeups if old.end < m.day <= end]
            added: list[MakeupWorkday] = []
        else:
            start, end = item.start, item.end
            change = f"调整为{_md(start, base.year)}至{_md(end, base.year)}"
            dropped = [m for m in makeups if m.name == old.name]
            added = [MakeupWorkday(day, old.name) for day in item.makeup]
        note = f"{old.note}原定{_md(old.start, base.year)}至{_md(old.end, base.year)}；依{ref}{change}。"
        holidays[index] = replace(old, start=start, end=end, note=note)
        makeups = [m for m in makeups if m not in dropped]
        makeups = sorted([*makeups, *added], key=lambda m: m.day)
        summary.extend(item.notes if notice.kind == EXTENSION else [item.text])
        kept = {m.day for m in added}
        for gone in dropped:
            if gone.day not in kept:
                summary.append(
                    f"原定{_md(gone.day, base.year)}（{_weekday_word(gone.day)}）调休上班取消。"
                )
    if r.problems:
        raise ProblemsError(r.problems, f"通知有 {len(r.problems)} 个问题，未写入任何文件")
    assert when is not None
    amendment = Amendment(notice.source, when, "".join(summary))
    return replace(
        base,
        holidays=tuple(holidays),
        makeup_workdays=tuple(makeups),
        amendments=(*base.amendments, amendment),
    )
