"""The demo's synthetic year: 汉中's units, a few hundred enterprises, their contacts and problems.

Everything random comes from one ``random.Random(seed)``, drawn in a fixed order, so a seed
always gives the same events. The year is generated *in time order with the ledger*: on each
simulated day the day's events are ingested the way ``huhang ingest --grade`` does it (each
reported ticket is graded by the rules right after its report), then the deadline sweep runs as
of that day. What happens to a problem after grading -- its deadline, who resolves it, who gives
feedback -- is planned when the kernel's grade and route are known, never invented.

Nothing happens after :func:`Calendar.last_action` (mid-December): every clock still running at
year end then falls due, and escalates, inside the year, so no evaluation reaches into a year
the working-day calendar has no data for.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.calendar.workdays import CountingRule, WorkCalendar
from kernel.clocks.compute import WARNING, ClockEvaluator
from kernel.clocks.steps import step_guard
from kernel.clocks.sweep import sweep
from kernel.demo import DEFAULT_ENTERPRISES, DEFAULT_PROBLEMS, DEFAULT_SEED, YEAR
from kernel.errors import CalendarError, InputError
from kernel.evaluation.kernel import Kernel
from kernel.inputs.creditcode import ALPHABET, complete
from kernel.inputs.sourcefile import SourceDoc
from kernel.ledger.events import OFFICE, Event
from kernel.ledger.ingest import IngestReport, ingest_events
from kernel.ledger.ledger import Ledger, Projector
from kernel.ledger.projection import TicketState
from kernel.outputs.progress import Progress
from kernel.rules.load import load_rules
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage

#: events per transaction, as ``huhang ingest``
SOURCE = "events.jsonl"
#: the notifier the demo's notices are queued for (``huhang notify --config DIR/huhang.yaml``)
NOTIFIER = "演示通知文件"

GRADE_MIX = {"A": 45, "B": 30, "C": 18, "D": 7}

# ------------------------------------------------------------------ reference data of the world

#: 登记管理机关行政区划码 of each territory (the city's code for the development zone)
REGION_CODES = {
    "汉台区": "610702",
    "南郑区": "610703",
    "城固县": "610722",
    "洋县": "610723",
    "西乡县": "610724",
    "勉县": "610725",
    "宁强县": "610726",
    "略阳县": "610727",
    "镇巴县": "610728",
    "留坝县": "610729",
    "佛坪县": "610730",
    "汉中经济技术开发区": "610700",
}
#: relative number of enterprises in the programme
TERRITORY_WEIGHTS = {
    "汉台区": 16,
    "汉中经济技术开发区": 12,
    "南郑区": 11,
    "城固县": 11,
    "勉县": 9,
    "洋县": 8,
    "西乡县": 8,
    "宁强县": 6,
    "略阳县": 6,
    "镇巴县": 5,
    "留坝县": 4,
    "佛坪县": 4,
}
PLACE_NAMES = {"汉台区": "汉中", "汉中经济技术开发区": "汉中", "洋县": "洋县", "勉县": "勉县"}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


BRANDS = _words(
    "秦岭 汉江 天汉 兴元 褒河 龙岗 朱鹮 汉源 南湖 定军 武侯 石门 留侯 华阳 青木 黎坪 午子 子午 金泉 瑞丰 鑫源 宏达 恒通 众诚 "
    "博远 嘉禾 丰泽 启明 华信 德隆 汇通 东裕 盛世 富源 永兴 天润 华康 康达 长青 明珠 聚力 铭城 卓越 新元 益民 顺达 佳禾 源丰 "
    "恒信 云雾"
)


@dataclass(frozen=True)
class Industry:
    """An industry: its name words, workforce range and the departments it deals with."""

    name: str
    words: tuple[str, ...]
    employees: tuple[int, int]
    departments: tuple[str, ...]
    weight: int


INDUSTRIES = (
    Industry("食品加工", ("食品", "粮油", "调味品"), (30, 600), ("工信局", "市场监管局"), 9),
    Industry("茶叶", ("茶业", "茶叶"), (15, 200), ("农业农村局", "商务局"), 6),
    Industry("中药材", ("中药材", "药业"), (20, 400), ("卫健委", "林业局"), 5),
    Industry("装备制造", ("机械制造", "重工", "装备"), (80, 1500), ("工信局", "科技局"), 8),
    Industry("航空零部件", ("航空部件", "航空科技"), (100, 2000), ("工信局", "发改委"), 4),
    Industry("冷链物流", ("冷链物流",), (30, 300), ("交通运输局", "商务局"), 4),
    Industry("仓储物流", ("仓储服务", "物流"), (20, 400), ("交通运输局", "商务局"), 6),
    Industry("新材料", ("新材料科技", "材料"), (50, 800), ("工信局", "科技局"), 5),
    Industry("电子信息", ("电子科技", "信息技术"), (30, 900), ("工信局", "数据局"), 5),
    Industry("建材", ("建材", "水泥"), (40, 500), ("住建局", "自然资源局"), 5),
    Industry("现代农业", ("农业开发", "生态农业"), (10, 300), ("农业农村局", "林业局"), 7),
    Industry("文化旅游", ("文化旅游", "旅游开发"), (15, 400), ("文旅局", "交通运输局"), 5),
    Industry("酒店餐饮", ("酒店管理", "餐饮管理"), (20, 300), ("文旅局", "商务局"), 4),
    Industry("商贸流通", ("商贸", "供应链管理"), (10, 300), ("商务局", "市场监管局"), 7),
    Industry("纺织服装", ("服饰", "纺织"), (50, 1000), ("工信局", "人社局"), 3),
    Industry("汽车零部件", ("汽车零部件",), (80, 1200), ("工信局", "发改委"), 3),
    Industry("生物医药", ("生物科技", "制药"), (40, 800), ("卫健委", "医保局"), 4),
    Industry("冶金", ("钢铁", "冶金"), (200, 3000), ("工信局", "生态环境局"), 2),
    Industry("新能源", ("新能源", "光伏科技"), (30, 600), ("发改委", "工信局"), 3),
)

SURNAMES = _words(
    "王 李 张 刘 陈 杨 赵 黄 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗 梁 宋 郑 谢 韩 唐 冯 于 董 程 "
    "曹 袁 邓 许 傅 沈 曾 彭 吕 苏 蒋 蔡 贾 丁 魏 薛 叶 阎 余 潘 杜 戴 夏 钟 汪 田 任 姜 范"
)
GIVEN = _words(
    "建国 志强 海燕 晓东 丽娟 文斌 永红 春梅 国华 少华 建军 秀英 卫东 红霞 明 磊 静 伟 刚 敏 "
    "婷 洁 涛 勇 军 芳 丹 超 鹏 欣怡 子涵 思远 浩然 嘉怡 雨轩 宏伟 立新 晓燕 玉兰 振华 "
    "学文 小军 小红 文静 慧敏 俊杰 亚楠 婧 蕾 昊 博 帆 琳 瑶 晨 毅 斌 凯 辉"
)

#: relative frequency of each category among problems of each grade
CATEGORY_MIX = {
    "A": {
        "政策咨询": 30,
        "用工": 15,
        "审批手续": 10,
        "融资": 8,
        "用电": 6,
        "用水": 6,
        "通信": 5,
        "交通": 4,
        "住房": 3,
        "教育": 4,
        "医疗": 3,
        "环境": 3,
        "用气": 3,
        "其他": 8,
    },
    "B": {
        "用工": 18,
        "审批手续": 16,
        "融资": 14,
        "用电": 10,
        "用地": 8,
        "交通": 8,
        "环境": 8,
        "用水": 5,
        "用气": 4,
        "住房": 4,
        "教育": 3,
        "其他": 4,
    },
    "C": {
        "用地": 22,
        "审批手续": 16,
        "融资": 14,
        "环境": 10,
        "交通": 10,
        "用电": 10,
        "住房": 6,
        "用工": 6,
        "其他": 6,
    },
    "D": {"用地": 25, "融资": 25, "环境": 15, "交通": 10, "用电": 10, "审批手续": 10, "其他": 5},
}

#: the municipal departments a problem of each category typically needs
CATEGORY_DEPARTMENTS = {
    "用工": ("人社局", "教育局", "医保局", "税务局"),
    "用地": ("自然资源局", "住建局", "发改委", "林业局", "农业农村局"),
    "用电": ("发改委", "工信局", "应急管理局"),
    "用水": ("水务局", "住建局", "生态环境局"),
    "用气": ("发改委", "住建局", "应急管理局"),
    "通信": ("工信局", "数据局", "住建局"),
    "交通": ("交通运输局", "公安局", "城管局"),
    "环境": ("生态环境局", "水务局", "林业局", "自然资源局"),
    "教育": ("教育局", "人社局", "公安局"),
    "医疗": ("卫健委", "医保局", "人社局"),
    "住房": ("住建局", "自然资源局", "人社局"),
    "审批手续": ("行政审批服务局", "住建局", "自然资源局", "生态环境局", "应急管理局"),
    "政策咨询": ("发改委", "工信局", "商务局", "科技局", "税务局", "财政局"),
    "融资": ("金融办", "财政局", "国资委", "发改委"),
    "其他": ("市场监管局", "商务局", "司法局", "公安局", "城管局"),
}

#: problem descriptions; ``{n}`` is replaced by a number in ``NUMBERS``
SUMMARIES = {
    "用工": (
        "旺季前需招聘{n}名一线操作工，希望组织专场招聘会",
        "新招员工社保参保登记办理缓慢",
        "申请稳岗返还补贴，需确认政策适用范围",
        "技能工人短缺，希望对接职业院校开展订单培养",
        "外地务工人员返岗包车协调",
    ),
    "用地": (
        "厂区二期扩建需新增用地{n}亩，用地指标不足",
        "项目用地规划调整，涉及用地性质变更",
        "项目用地不动产权证办理受阻",
        "租用集体土地建设仓库，手续不全",
        "园区标准化厂房用地报批进度缓慢",
    ),
    "用电": (
        "新增生产线需增容{n}千伏安",
        "园区频繁停电，影响连续生产",
        "申请执行大工业电价",
        "专用变压器接入审批时间长",
    ),
    "用水": ("厂区供水压力不足，影响清洗工序", "新厂区生产用水管网接入", "污水接入市政管网"),
    "用气": ("冬季天然气供应量不足，影响生产", "燃气管道接入费用过高", "工业用气价格核定"),
    "通信": ("厂区 5G 信号覆盖差", "园区光纤宽带接入", "偏远基地通信基站建设"),
    "交通": (
        "厂区门前道路破损，货车通行困难",
        "货车进城通行证办理",
        "园区公交线路延伸至厂区",
        "进厂道路与国道交叉口需增设信号灯",
    ),
    "环境": ("项目环评手续办理", "排污许可证延续", "环保督察整改验收", "危废处置渠道不畅"),
    "教育": ("引进人才子女入学", "外地职工子女就近入学", "职工子女入托"),
    "医疗": ("员工职业健康体检定点协调", "厂区附近设立医疗服务点", "异地就医备案咨询"),
    "住房": ("引进人才申请人才公寓{n}套", "员工宿舍建设审批", "职工公租房申请"),
    "审批手续": (
        "新建厂房施工许可办理",
        "项目消防验收",
        "食品生产许可证延续",
        "项目立项备案与节能审查",
        "技改项目环评与能评并联审批",
    ),
    "政策咨询": (
        "咨询研发费用加计扣除政策",
        "咨询高新技术企业认定条件",
        "咨询中小企业纾困贷款贴息政策",
        "咨询出口退税办理流程",
        "咨询技改项目市级补助申报条件",
    ),
    "融资": (
        "流动资金贷款{n}万元到期续贷困难",
        "申请市级应急转贷资金{n}万元",
        "设备更新贷款贴息申请",
        "申请政府性融资担保增信{n}万元",
    ),
    "其他": ("注册商标被侵权，请求协助维权", "企业周边治安问题", "厂区门前占道经营", "老字号认定"),
}
NUMBERS = {"用工": (20, 200), "用地": (10, 120), "用电": (400, 5000), "住房": (10, 80)}
D_SUMMARIES = {
    "用地": "项目用地需调整国土空间规划，须报省级审批",
    "融资": "重大项目资金缺口{n}万元，超出市级财力",
    "环境": "项目位于生态保护红线附近，需省级部门论证",
    "交通": "进场道路改线涉及国省干线，需省级批准",
    "用电": "新建 110 千伏变电站纳入省级电网规划",
    "审批手续": "跨市域项目需省级部门核准",
    "其他": "现行政策限制企业转型，需修改政策",
}
SPOT_FINDINGS = (
    "台账中办结日期与办结材料不一致",
    "问题办理单缺少企业签字确认",
    "走访联系记录未及时录入台账",
    "反馈记录缺少企业意见",
    "办理单问题描述过于简略，无法核实",
    "台账未按月更新办理进展",
)
CONTACT_METHODS = (("走访", 50), ("电话", 30), ("座谈", 10), ("线上", 10))
MONTH_WEIGHTS = (5, 4, 10, 10, 10, 10, 9, 8, 10, 8, 9, 3)


# ------------------------------------------------------------------ small helpers


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def organisation_code(rng: random.Random) -> str:
    """A 9-character 主体标识码: ``MA`` + 6 characters + its GB 11714 check character."""
    body = "MA" + "".join(rng.choice(ALPHABET) for _ in range(6))
    total = sum(
        (int(ch) if ch.isdigit() else ord(ch) - 55) * w
        for ch, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def credit_code(rng: random.Random, territory: str) -> str:
    """A 统一社会信用代码 of an enterprise (91) registered in ``territory``, with its check."""
    return complete("91" + REGION_CODES.get(territory, "610700") + organisation_code(rng))


def place_name(territory: str) -> str:
    """The place word in a company name (汉台区 → 汉中, 城固县 → 城固)."""
    if territory in PLACE_NAMES:
        return PLACE_NAMES[territory]
    return territory[:-1] if territory[-1:] in ("县", "区") and len(territory) > 2 else territory


class Names:
    """Unique Chinese personal names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def new(self) -> str:
        """A name not handed out before."""
        for length in (1, 2):  # two-character names first, then three-character ones
            for _ in range(1000):
                given = "".join(self.rng.choice(GIVEN) for _ in range(length))
                name = self.rng.choice(SURNAMES) + given
                if name not in self.used:
                    self.used.add(name)
                    return name
        name = f"{self.rng.choice(SURNAMES)}{self.rng.choice(GIVEN)}{len(self.used)}"
        self.used.add(name)  # a very large demo: unique by number
        return name


@dataclass(frozen=True)
class Firm:
    """One enterprise of the demo and its "四个一" assignment."""

    code: str
    name: str
    territory: str
    industry: Industry
    employees: int
    lead_unit: str
    lead_leader: str
    liaison_cadre: str
    working_group: tuple[str, ...]
    registered_on: dt.date
    weight: float

    def payload(self) -> dict[str, Any]:
        """The ``enterprise.registered`` payload."""
        short = self.name.removesuffix("股份有限公司").removesuffix("有限责任公司")
        return {
            "name": self.name,
            "territory": self.territory,
            "industry": self.industry.name,
            "employees": self.employees,
            "lead_unit": self.lead_unit,
            "lead_leader": self.lead_leader,
            "liaison_cadre": self.liaison_cadre,
            "working_group": list(self.working_group),
            "plan": f"{short.removesuffix('有限公司')}包抓方案（{YEAR}）",
        }


@dataclass(frozen=True)
class Problem:
    """A problem as the enterprise raises it: what it needs, and how its handling will go."""

    index: int
    firm: Firm
    collected_on: dt.date
    target: str  # the grade the assessment was drawn for (the kernel decides the real one)
    category: str
    summary: str
    assessment: dict[str, Any]
    amount: int | None
    report_delay: int  # working days from collection to report


# ------------------------------------------------------------------ the calendar's limits


class Calendar:
    """Working-day arithmetic of the demo year, and the dates that keep it inside the year."""

    def __init__(self, ruleset: RuleSet, calendar: WorkCalendar, year: int) -> None:
        assert ruleset.deadlines is not None
        self.rules = ruleset.deadlines
        self.cal = calendar
        self.year = year
        self.counting = CountingRule(self.rules.counting)
        self.end = dt.date(year, 12, 31)
        ladder = sum(s.workdays or 0 for s in self.rules.escalation)
        #: the latest due date whose whole escalation ladder still falls inside the year
        self.safe_due = self._latest(lambda d: self.add(d, ladder) <= self.end)
        fixed = [(c.limit.default, c.escalate) for c in self.rules.clocks if c.limit is not None]
        escalating = max((d for d, esc in fixed if d is not None and esc), default=0)
        quiet = max((d for d, esc in fixed if d is not None and not esc), default=0)
        #: nothing happens after this day, so every clock with a fixed limit falls due (and an
        #: escalating one escalates) inside the year
        self.last_action = self._latest(
            lambda d: self.add(d, escalating) <= self.safe_due and self.add(d, quiet) <= self.end
        )
        self.workdays = [
            d for d in self.days(dt.date(year, 1, 1), self.end) if self.cal.is_workday(d)
        ]
        #: the last day a D-grade round may still be open: the monthly progress clock of an open
        #: ticket looks up the next month's last working day, so without next year's calendar
        #: every D-grade ticket must be resolved by the end of November
        self.long_close_by = (
            self.last_action if year + 1 in calendar.years else self.last_workday(year, 11)
        )

    @staticmethod
    def days(first: dt.date, last: dt.date) -> list[dt.date]:
        """Every day from ``first`` to ``last``."""
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def _latest(self, fits: Any) -> dt.date:
        day = self.end
        while not (self.cal.is_workday(day) and fits(day)):
            day -= dt.timedelta(days=1)
        return day

    def add(self, day: dt.date, workdays: int) -> dt.date:
        """``workdays`` working days after ``day`` (far in the future when beyond the data)."""
        try:
            return self.cal.add_workdays(day, workdays, self.counting)
        except CalendarError:
            return dt.date.max

    def on_or_after(self, day: dt.date) -> dt.date:
        """The first working day on or after ``day``."""
        if day > self.end:
            return dt.date.max
        return day if self.cal.is_workday(day) else self.add(day, 1)

    def last_workday(self, year: int, month: int) -> dt.date:
        """The month's last working day."""
        return self.cal.last_workday_of_month(year, month)

    def resolve_limit(self, grade: str | None, category: str) -> int | None:
        """The resolution limit (working days after dispatch) of a grade, None for D."""
        limits = [
            c.limit.days(grade, category)
            for c in self.rules.clocks
            if c.limit is not None
            and c.applies_to(grade)
            and "ticket.dispatched" in c.start
            and "ticket.resolved" in c.stop
        ]
        found = [x for x in limits if x is not None]
        return max(found) if found else None

    def workday_between(self, rng: random.Random, first: dt.date, last: dt.date) -> dt.date | None:
        """A random working day in ``[first, last]``, None when there is none."""
        lo = _bisect(self.workdays, first)
        hi = _bisect(self.workdays, last + dt.timedelta(days=1))
        return self.workdays[rng.randrange(lo, hi)] if hi > lo else None


def _bisect(days: Sequence[dt.date], day: dt.date) -> int:
    lo, hi = 0, len(days)
    while lo < hi:
        mid = (lo + hi) // 2
        if days[mid] < day:
            lo = mid + 1
        else:
            hi = mid
    return lo


# ------------------------------------------------------------------ the world


class World:
    """The enterprises, their assignments and contacts, and the problems of the year."""

    def __init__(
        self,
        rng: random.Random,
        ruleset: RuleSet,
        cal: Calendar,
        *,
        enterprises: int,
        problems: int,
    ) -> None:
        self.rng = rng
        self.ruleset = ruleset
        self.cal = cal
        ref = ruleset.reference
        self.territories = [u.id for u in ref.units.values() if u.kind == "territories"]
        self.departments = [u.id for u in ref.units.values() if u.kind == "departments"]
        self.categories = list(ref.categories)
        if not self.territories or not self.departments:
            raise InputError("演示需要 units.yaml 中至少有一个县区和一个市级部门")
        self.names = Names(rng)
        # how reliable each unit is: a multiplier on its chances of being late or missing a duty
        units = [*self.territories, *self.departments]
        draws = [min(max(rng.lognormvariate(0.0, 0.35), 0.4), 2.5) for _ in units]
        mean = sum(draws) / len(draws)
        self.conduct = {u: x / mean for u, x in zip(units, draws, strict=True)}
        self.firms = self._firms(enterprises)
        self.problems = self._problems(problems)

    def factor(self, unit: str) -> float:
        """The unit's conduct multiplier (1 for units outside the assessment)."""
        return self.conduct.get(unit, 1.0)

    # -------------------------------------------------------------- enterprises

    def _firms(self, count: int) -> list[Firm]:
        rng = self.rng
        weights = {t: float(TERRITORY_WEIGHTS.get(t, 5)) for t in self.territories}
        leaders: dict[str, list[str]] = {}
        cadres: dict[str, list[str]] = {}
        firms: list[Firm] = []
        names: set[str] = set()
        codes: set[str] = set()
        start = dt.date(self.cal.year, 1, 1) - dt.timedelta(days=1)
        for index in range(count):
            territory = _pick(rng, weights)
            industry = rng.choices(INDUSTRIES, weights=[i.weight for i in INDUSTRIES])[0]
            related = [d for d in industry.departments if d in self.departments]
            lead = rng.choice(related) if related and rng.random() < 0.4 else None
            lead = lead or rng.choice(self.departments)
            while True:
                suffix = rng.choices(("有限公司", "股份有限公司", "有限责任公司"), (80, 12, 8))[0]
                name = (
                    place_name(territory) + rng.choice(BRANDS) + rng.choice(industry.words) + suffix
                )
                if name not in names:
                    names.add(name)
                    break
            while True:
                code = credit_code(rng, territory)
                if code not in codes:
                    codes.add(code)
                    break
            pool = leaders.setdefault(lead, [self.names.new()])
            if len(pool) < 2 and rng.random() < 0.3:
                pool.append(self.names.new())
            helpers = cadres.setdefault(lead, [])
            if not helpers or rng.random() < 0.35:
                helpers.append(self.names.new())
            group = [lead, territory]
            for dept in rng.sample(related, k=min(len(related), rng.randint(0, 2))):
                if dept not in group:
                    group.append(dept)
            lo, hi = industry.employees
            employees = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            joined = start
            if index >= count * 0.94:  # a few join the programme during the year
                joined = cal_day(self.cal, rng, 3, 9)
            firms.append(
                Firm(
                    code=code,
                    name=name,
                    territory=territory,
                    industry=industry,
                    employees=employees,
                    lead_unit=lead,
                    lead_leader=rng.choice(pool),
                    liaison_cadre=rng.choice(helpers),
                    working_group=tuple(group),
                    registered_on=joined,
                    weight=math.sqrt(employees) * rng.gammavariate(1.5, 1.0),
                )
            )
        return firms

    # -------------------------------------------------------------- problems

    def latest_collection(self, grade: str, category: str) -> dt.date:
        """The last day a problem of ``grade`` may be collected so its handling fits the year."""
        limit = self.cal.resolve_limit(grade, category) or 0
        # up to 6 working days to report, 1 to dispatch, then the resolution limit
        day = self.cal.safe_due
        for _ in range(7 + limit):
            day = self.cal.cal.previous_workday(day)
        if grade == "D":  # long problems: collected by October so they have a history
            day = min(day, dt.date(self.cal.year, 10, 30))
        return day

    def _problems(self, count: int) -> list[Problem]:
        rng = self.rng
        year = self.cal.year
        firm_weights = [f.weight for f in self.firms]
        drafts: list[tuple[dt.date, int, Problem]] = []
        for index in range(count):
            target = _pick(rng, {k: float(v) for k, v in GRADE_MIX.items()})
            mix = {c: float(w) for c, w in CATEGORY_MIX[target].items() if c in self.categories}
            category = _pick(rng, mix) if mix else rng.choice(self.categories)
            last = self.latest_collection(target, category)
            while True:  # an enterprise in the programme at least a week before the deadline
                firm = rng.choices(self.firms, weights=firm_weights)[0]
                first = max(dt.date(year, 1, 5), firm.registered_on + dt.timedelta(days=7))
                if first <= last:
                    break
            months = list(range(first.month, last.month + 1))
            month = rng.choices(months, weights=[MONTH_WEIGHTS[m - 1] for m in months])[0]
            lo = max(first, dt.date(year, month, 1))
            hi = min(last, self.cal.last_workday(year, month))
            day = self.cal.workday_between(rng, lo, hi) or self.cal.on_or_after(first)
            assessment = self._assessment(target, category)
            summary = self._summary(target, category)
            amount = None
            if category == "融资" or (category in ("用地", "审批手续") and rng.random() < 0.3):
                amount = rng.choice((50, 100, 200, 300, 500, 800, 1000, 2000, 5000))
            late = rng.random() < 0.09 * self.factor(firm.lead_unit)
            delay = rng.randint(3, 6) if late else rng.choices((0, 1, 2), (25, 50, 25))[0]
            drafts.append(
                (
                    day,
                    index,
                    Problem(index, firm, day, target, category, summary, assessment, amount, delay),
                )
            )
        drafts.sort(key=lambda item: (item[0], item[1]))
        return [problem for _, _, problem in drafts]

    def _departments(self, category: str, count: int) -> list[str]:
        pool = [d for d in CATEGORY_DEPARTMENTS.get(category, ()) if d in self.departments]
        others = [d for d in self.departments if d not in pool]
        picked = self.rng.sample(pool, k=min(count, len(pool)))
        if len(picked) < count:
            picked += self.rng.sample(others, k=min(count - len(picked), len(others)))
        return picked

    def _assessment(self, grade: str, category: str) -> dict[str, Any]:
        """A 研判 that the default grading rules place in ``grade``."""
        rng = self.rng
        out: dict[str, Any] = {}
        if grade == "A":
            shape = "own" if category == "政策咨询" else rng.choice(("own", "territory", "one"))
            if shape == "own":
                out["authority_level"] = "本单位"
            elif shape == "territory":
                out.update(authority_level="县区", needs_territory=True)
            else:
                out.update(authority_level="市级", departments=self._departments(category, 1))
        elif grade == "B":
            if rng.random() < 0.65:
                out.update(
                    authority_level=rng.choice(("县区", "市级")),
                    needs_territory=True,
                    departments=self._departments(category, rng.randint(1, 2)),
                )
            else:
                out.update(authority_level="市级", departments=self._departments(category, 2))
        elif grade == "C":
            if rng.random() < 0.7:
                out.update(
                    authority_level="市级",
                    needs_territory=rng.random() < 0.6,
                    departments=self._departments(category, rng.randint(3, 4)),
                )
            else:
                out.update(
                    authority_level="市级",
                    needs_leader_decision=True,
                    departments=self._departments(category, rng.randint(0, 2)),
                )
        else:
            reason = rng.choices(("省级", "中央", "policy", "budget"), (40, 10, 25, 25))[0]
            out["authority_level"] = reason if reason in ("省级", "中央") else "市级"
            if reason == "policy":
                out["needs_policy_change"] = True
            if reason == "budget":
                out["beyond_city_budget"] = True
            out["departments"] = self._departments(category, rng.randint(1, 3))
            out["needs_territory"] = True
        if category == "融资" and grade in ("A", "B", "C") and rng.random() < 0.45:
            out["municipal_funds"] = True
        if category == "审批手续" and grade == "A" and rng.random() < 0.5:
            out.update(authority_level="市级", departments=self._departments(category, 1))
            out.pop("needs_territory", None)
        if "departments" in out and not out["departments"]:
            del out["departments"]
        return out

    def _summary(self, grade: str, category: str) -> str:
        rng = self.rng
        if grade == "D" and category in D_SUMMARIES and rng.random() < 0.7:
            text = D_SUMMARIES[category]
        else:
            text = rng.choice(SUMMARIES.get(category, SUMMARIES["其他"]))
        lo, hi = NUMBERS.get(category, (100, 3000))
        return text.replace("{n}", str(rng.randint(lo, hi)))


def cal_day(cal: Calendar, rng: random.Random, first_month: int, last_month: int) -> dt.date:
    """A random working day in the given months of the demo year."""
    first = dt.date(cal.year, first_month, 1)
    last = cal.last_workday(cal.year, last_month)
    found = cal.workday_between(rng, first, last)
    assert found is not None
    return found


# ------------------------------------------------------------------ the simulation


@dataclass
class SweepTotals:
    """What the daily sweeps issued over the year."""

    runs: int = 0
    notices: int = 0
    events: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


@dataclass
class Simulation:
    """A simulated year: the input events, the ledger they went into, and its projection."""

    seed: int
    year: int
    ruleset: RuleSet
    ledger: Ledger
    projector: Projector
    evaluator: ClockEvaluator
    firms: list[Firm]
    problems: list[Problem]
    #: the events as a user's JSON-lines file holds them (``events.jsonl``)
    events: list[dict[str, Any]]
    #: every event the ledger stored, in ledger order (with the gradings and escalations)
    stored: list[Event]
    ingest: IngestReport
    sweeps: SweepTotals
    last_action: dt.date


_RANK = {
    "enterprise.registered": 0,
    "enterprise.changed": 0,
    "contact.recorded": 1,
    "report.published": 3,
    "spot_check.defect": 3,
}


class Simulator:
    """Runs the year day by day against a ledger."""

    def __init__(
        self,
        ledger: Ledger,
        ruleset: RuleSet,
        calendar: WorkCalendar,
        *,
        seed: int,
        enterprises: int,
        problems: int,
        year: int = YEAR,
        prefilter: bool = True,
    ) -> None:
        self.seed = seed
        self.prefilter = prefilter
        self.rng = random.Random(seed)
        self.ledger = ledger
        self.ruleset = ruleset
        self.cal = Calendar(ruleset, calendar, year)
        assert ruleset.deadlines is not None
        self.evaluator = ClockEvaluator(ruleset.deadlines, calendar)
        self.world = World(self.rng, ruleset, self.cal, enterprises=enterprises, problems=problems)
        self.projector = Projector(ruleset.reference)
        self.agenda: dict[dt.date, list[tuple[int, int, dict[str, Any]]]] = {}
        self.order = 0
        self.events: list[dict[str, Any]] = []
        self.stored: list[Event] = []
        self.ingest = IngestReport()
        self.sweeps = SweepTotals()
        self.cursor = 0
        self.open: dict[str, None] = {}
        self.ticket_ids: dict[int, str] = {}
        self.issued: set[tuple[str, ...]] = set()

    # -------------------------------------------------------------- planning

    def schedule(self, day: dt.date, event: dict[str, Any]) -> bool:
        """Put an event on the agenda; False (and nothing planned) after the last action day."""
        if day > self.cal.last_action:
            return False
        self.order += 1
        rank = _RANK.get(str(event["type"]), 2)
        self.agenda.setdefault(day, []).append((rank, self.order, event))
        return True

    def plan_year(self) -> None:
        """Everything that does not depend on a grade: registrations, contacts, problems, office."""
        world, cal = self.world, self.cal
        for firm in world.firms:
            self.schedule(
                firm.registered_on,
                {
                    "event_id": f"{firm.code}:registered",
                    "type": "enterprise.registered",
                    "date": firm.registered_on.isoformat(),
                    "actor": OFFICE,
                    "enterprise": firm.code,
                    "payload": firm.payload(),
                },
            )
        changes = self._plan_changes()
        for firm in world.firms:
            self._plan_contacts(firm, changes.get(firm.code))
        for number, problem in enumerate(world.problems, start=1):
            ticket_id = f"HZ-{cal.year}-{number:04d}"
            self.ticket_ids[problem.index] = ticket_id
            self._plan_collection(ticket_id, problem)
        self._plan_office()

    def _plan_changes(self) -> dict[str, tuple[dt.date, str]]:
        """A few mid-year changes of the liaison cadre (包抓关系变更)."""
        out: dict[str, tuple[dt.date, str]] = {}
        count = max(1, len(self.world.firms) // 30)
        for firm in self.rng.sample(self.world.firms, k=min(count, len(self.world.firms))):
            day = cal_day(self.cal, self.rng, 4, 10)
            if day <= firm.registered_on:
                continue
            person = self.world.names.new()
            out[firm.code] = (day, person)
            self.schedule(
                day,
                {
                    "event_id": f"{firm.code}:changed:{day.isoformat()}",
                    "type": "enterprise.changed",
                    "date": day.isoformat(),
                    "actor": OFFICE,
                    "enterprise": firm.code,
                    "note": "对口服务干部岗位调整",
                    "payload": {"liaison_cadre": person},
                },
            )
        return out

    def _plan_contacts(self, firm: Firm, change: tuple[dt.date, str] | None) -> None:
        """Monthly contacts by the lead leader or the liaison cadre; about 5 % of months missed."""
        rng, cal = self.rng, self.cal
        miss = 0.055 * self.world.factor(firm.lead_unit)
        for month in range(1, 13):
            first = dt.date(cal.year, month, 1)
            if first < firm.registered_on:
                continue
            last = dt.date(cal.year + 1, 1, 1) if month == 12 else dt.date(cal.year, month + 1, 1)
            last -= dt.timedelta(days=1)
            if rng.random() < miss:
                visits = ["other"] if rng.random() < 0.3 else []  # someone else went: not counted
            else:
                visits = ["liaison_cadre" if rng.random() < 0.75 else "lead_leader"]
                if rng.random() < 0.2:
                    visits.append(
                        "lead_leader" if visits[0] == "liaison_cadre" else "liaison_cadre"
                    )
            for number, role in enumerate(visits, start=1):
                day = cal.workday_between(rng, first, last)
                if day is None:
                    continue
                cadre = firm.liaison_cadre
                if change is not None and day >= change[0]:
                    cadre = change[1]
                if role == "other":
                    person = self.world.names.new()
                else:
                    person = cadre if role == "liaison_cadre" else firm.lead_leader
                method = rng.choices(
                    [m for m, _ in CONTACT_METHODS], [w for _, w in CONTACT_METHODS]
                )[0]
                self.schedule_anyway(
                    day,
                    {
                        "event_id": f"{firm.code}:contact:{day.isoformat()}:{number}",
                        "type": "contact.recorded",
                        "date": day.isoformat(),
                        "actor": firm.lead_unit,
                        "enterprise": firm.code,
                        "payload": {"by": role, "person": person, "method": method},
                    },
                )

    def schedule_anyway(self, day: dt.date, event: dict[str, Any]) -> None:
        """Contacts and office reports start no clock: they may happen up to the year's end."""
        self.order += 1
        rank = _RANK.get(str(event["type"]), 2)
        self.agenda.setdefault(day, []).append((rank, self.order, event))

    def _plan_collection(self, ticket_id: str, problem: Problem) -> None:
        firm = problem.firm
        payload: dict[str, Any] = {
            "category": problem.category,
            "summary": problem.summary,
            "assessment": problem.assessment,
        }
        if problem.amount is not None:
            payload["amount"] = problem.amount
        self.schedule(
            problem.collected_on,
            {
                "event_id": f"{ticket_id}:collected",
                "type": "ticket.collected",
                "date": problem.collected_on.isoformat(),
                "actor": firm.lead_unit,
                "person": firm.liaison_cadre,
                "enterprise": firm.code,
                "ticket_id": ticket_id,
                "payload": payload,
            },
        )
        day = self.cal.add(problem.collected_on, problem.report_delay)
        self.schedule(
            day,
            {
                "event_id": f"{ticket_id}:reported",
                "type": "ticket.reported",
                "date": day.isoformat(),
                "actor": firm.lead_unit,
                "ticket_id": ticket_id,
                "payload": {},
            },
        )

    def _plan_office(self) -> None:
        """The monthly notice (by the 5th working day; one month late) and spot checks."""
        rng, cal, year = self.rng, self.cal, self.cal.year
        late = rng.randint(2, 10)
        for month in range(1, 12):
            nth = 7 if month == late else rng.randint(2, 5)
            day = cal.cal.nth_workday_of_month(year, month + 1, nth)
            label = f"{year}-{month:02d}"
            self.schedule_anyway(
                day,
                {
                    "event_id": f"report:{label}",
                    "type": "report.published",
                    "date": day.isoformat(),
                    "actor": OFFICE,
                    "payload": {
                        "month": label,
                        "title": f"助商稳企·护航发展 {year} 年 {month} 月服务动态与问题办理通报",
                    },
                },
            )
        checks = min(20, max(3, len(self.world.problems) // 100))
        units = [*self.world.territories, *self.world.departments]
        for number in range(1, checks + 1):
            day = cal_day(cal, rng, 2, 12)
            unit = rng.choices(units, [self.world.factor(u) for u in units])[0]
            self.schedule_anyway(
                day,
                {
                    "event_id": f"spot-check:{day.isoformat()}:{number}",
                    "type": "spot_check.defect",
                    "date": day.isoformat(),
                    "actor": OFFICE,
                    "payload": {"unit": unit, "finding": rng.choice(SPOT_FINDINGS)},
                },
            )

    # -------------------------------------------------------------- after grading

    def plan_handling(self, state: TicketState, graded_on: dt.date) -> None:
        """Dispatch, resolution rounds, feedback and rating, once the grade and route are known.

        A few percent of problems take the other steps of docs/policy.md §8 on the way: a
        return and re-route, an extension, a suspension, a withdrawal, a merge, a refusal before
        dispatch, a callback after the rating (some disputed, then reopened), and a few 不满意
        the office declines to reopen.
        """
        rng, cal = self.rng, self.cal
        tid = state.ticket_id
        grade = state.grade
        route = state.route
        primary = str(route["primary"])
        helpers = [u for u in state.handlers if u != primary]
        owner = str(route.get("feedback_owner") or state.lead_unit)
        category = str(state.ticket.data["category"])
        limit = cal.resolve_limit(grade, category)
        factor = self.world.factor(primary)
        start = cal.add(graded_on, 1)
        if not self._fits(start, limit):
            return  # too late in the year to hand out: stays with the office
        detour = rng.random() if limit is not None else 1.0
        if detour < 0.004:
            reason = self._reason("ticket.rejected", "不属于政府职能范围")
            self.schedule(start, self._event(tid, "rejected", start, OFFICE, {"reason": reason}))
            return
        if not self.schedule(start, self._event(tid, "dispatched", start, OFFICE)):
            return
        for number in (1, 2):
            extra = 0
            if number == 1 and limit is not None:
                planned = self._plan_detour(state, detour, start, limit, primary, helpers)
                if planned is None:
                    return  # withdrawn, merged, or past the year's last action day
                start, handler, extra, not_before = planned
                if handler != primary:  # re-routed: the old primary helps the new one
                    helpers, primary = [primary], handler
            else:
                not_before = start
            if limit is None:
                resolved = self._plan_long(tid, start, primary, factor)
            else:
                resolved = self._resolution(start, limit + extra, factor)
                if resolved is not None and resolved <= not_before:
                    resolved = cal.add(not_before, 1)
            if resolved is None or resolved > cal.last_action:
                return  # still being handled at year end
            actor = rng.choice(helpers) if helpers and rng.random() < 0.15 else primary
            self.schedule(resolved, self._event(tid, f"resolved:{number}", resolved, actor))
            late = rng.random() < 0.06 * self.world.factor(owner)
            told = cal.add(resolved, rng.randint(3, 5) if late else rng.randint(0, 2))
            if not self.schedule(told, self._event(tid, f"feedback:{number}", told, owner)):
                return
            rated = cal.add(told, rng.randint(6, 8) if rng.random() < 0.05 else rng.randint(1, 5))
            unhappy = 0.095 * factor if number == 1 else 0.05
            draw = rng.random()
            rating = "不满意" if draw < unhappy else "基本满意" if draw < unhappy + 0.22 else "满意"
            event = self._event(tid, f"rated:{number}", rated, OFFICE, {"rating": rating})
            if not self.schedule(rated, event):
                return
            if rating != "不满意":
                reopen_on = self._plan_callback(tid, rated, number)
                if reopen_on is None:
                    return
                start = reopen_on
            elif number == 2:
                return
            elif rng.random() < 0.15:  # the demand is outside policy: declined, with a reason
                day = cal.add(rated, 1)
                why = {"reason": self._reason("ticket.reopen_declined", "企业诉求超出政策规定")}
                self.schedule(day, self._event(tid, "reopen_declined", day, OFFICE, why))
                return
            else:
                start = cal.add(rated, 1 if rng.random() < 0.85 else 2)
            if not self._fits(start, limit):
                return
            summary = {"summary": "企业不满意，重新办理"}
            if not self.schedule(start, self._event(tid, "reopened:2", start, OFFICE, summary)):
                return

    def _reason(self, event_type: str, fallback: str) -> str:
        """A reason the rules allow for a step (the first listed, or ``fallback``)."""
        rules = self.ruleset.lifecycle
        step = rules.step(event_type) if rules is not None else None
        if step is None or not step.reasons:
            return fallback
        return self.rng.choice(step.reasons)

    def _plan_detour(
        self,
        state: TicketState,
        detour: float,
        start: dt.date,
        limit: int,
        primary: str,
        helpers: list[str],
    ) -> tuple[dt.date, str, int, dt.date] | None:
        """The first round's return, extension, suspension, withdrawal or merge, if any.

        Returns the round's start (after a re-route), its primary handler, the working days
        added to its limit, and the day before which it cannot be resolved; None when the
        problem ends (withdrawn, merged) or its steps fall after the year's last action day.
        """
        rng, cal, tid = self.rng, self.cal, state.ticket_id
        if detour < 0.034:  # returned: most within the window, some late
            late = rng.random() < 0.15
            day = cal.add(start, rng.randint(3, 5) if late else rng.randint(1, 2))
            payload: dict[str, Any] = {
                "reason": self._reason("ticket.returned", "不属于本单位职责")
            }
            if late:
                payload["late"] = True
            if not self.schedule(day, self._event(tid, "returned", day, primary, payload)):
                return None
            again = cal.add(day, 1 if rng.random() < 0.9 else 2)
            moved: dict[str, Any] = {}
            if helpers and rng.random() < 0.7:
                new = rng.choice(helpers)
                moved = {"route": {"primary": new, "co_handlers": [primary]}}
                primary = new
            else:
                moved = {"summary": "经核实维持原交办"}
            if not self.schedule(again, self._event(tid, "rerouted", again, OFFICE, moved)):
                return None
            return again, primary, 0, again
        if detour < 0.074:  # an extension asked two working days before the due date
            asked = cal.add(start, max(1, limit - 2))
            rules = self.ruleset.lifecycle
            step = rules.step("ticket.extension_requested") if rules is not None else None
            most = step.max_for(state.grade) if step is not None else None
            days = min(most or 5, rng.randint(3, 8))
            if days < 1 or not self._fits(start, limit + days):
                return start, primary, 0, start
            request = {"workdays": days, "reason": "需要协调的事项较多"}
            if not self.schedule(
                asked, self._event(tid, "extension_requested", asked, primary, request)
            ):
                return None
            decided = cal.add(asked, 1)
            if rng.random() < 0.8:
                event = self._event(tid, "extension_granted", decided, OFFICE, {"workdays": days})
                return start, primary, days if self.schedule(decided, event) else 0, decided
            event = self._event(
                tid, "extension_refused", decided, OFFICE, {"reason": "理由不充分，请按期办结"}
            )
            self.schedule(decided, event)
            return start, primary, 0, decided
        if detour < 0.094:  # suspended while the enterprise gathers its materials
            held = cal.add(start, rng.randint(1, 3))
            back = cal.add(held, rng.randint(3, 8))
            if not self._fits(start, limit + self.cal_span(held, back)):
                return start, primary, 0, start
            reason = {"reason": self._reason("ticket.suspended", "等待企业补充材料")}
            if not self.schedule(held, self._event(tid, "suspended", held, OFFICE, reason)):
                return None
            if not self.schedule(back, self._event(tid, "resumed", back, primary)):
                return None
            return start, primary, self.cal_span(held, back), back
        if detour < 0.099:  # withdrawn by the enterprise
            day = cal.add(start, rng.randint(1, 4))
            reason = {"reason": self._reason("ticket.withdrawn", "企业自行解决")}
            self.schedule(day, self._event(tid, "withdrawn", day, state.lead_unit, reason))
            return None
        if detour < 0.102:  # reported twice: merged into the enterprise's earlier problem
            earlier = next(
                (
                    other.ticket_id
                    for other in self.projector.tickets.values()
                    if other.enterprise == state.enterprise and other.ticket_id != tid
                ),
                None,
            )
            if earlier is not None:
                day = cal.add(start, 1)
                into = {"into": earlier, "summary": "同一问题重复反映"}
                self.schedule(day, self._event(tid, "merged", day, OFFICE, into))
                return None
        return start, primary, 0, start

    def cal_span(self, first: dt.date, last: dt.date) -> int:
        """Working days from ``first`` to ``last`` (how long a suspension paused the clock)."""
        return self.cal.cal.workdays_between(first, last)

    def _plan_callback(self, tid: str, rated: dt.date, number: int) -> dt.date | None:
        """The office's callback on a sample of satisfied ratings; a disputed one is reopened:
        the day the new round starts, or None."""
        rng, cal = self.rng, self.cal
        if rng.random() >= 0.12:
            return None
        day = cal.add(rated, rng.randint(2, 6))
        disputed = number == 1 and rng.random() < 0.08
        payload = {
            "resolution": "有异议" if disputed else "认可",
            "summary": "企业反映问题仍未解决" if disputed else "企业认可办理结果",
        }
        event = self._event(tid, f"callback:{number}", day, OFFICE, payload)
        if not self.schedule(day, event) or not disputed:
            return None
        return cal.add(day, 1)

    def _fits(self, start: dt.date, limit: int | None) -> bool:
        """Whether a round started on ``start`` can run its course inside the year: a fixed
        limit falls due early enough to escalate; a D-grade round can still be resolved."""
        if limit is None:
            return start < self.cal.long_close_by
        return start <= self.cal.last_action and self.cal.add(start, limit) <= self.cal.safe_due

    def _resolution(self, start: dt.date, limit: int, factor: float) -> dt.date | None:
        """On time for most; about 14 % late, a few not resolved within the year."""
        rng, cal = self.rng, self.cal
        if rng.random() >= 0.14 * factor:
            return cal.add(start, rng.randint(max(1, math.ceil(limit * 0.3)), limit))
        due = cal.add(start, limit)
        draw = rng.random()
        if draw < 0.65:
            return cal.add(due, rng.randint(1, 4))
        if draw < 0.90:
            return cal.add(due, rng.randint(5, 15))
        if draw < 0.98:
            return cal.add(due, rng.randint(16, 40))
        return None

    def _plan_long(self, tid: str, start: dt.date, primary: str, factor: float) -> dt.date | None:
        """A D-grade round: monthly progress reports (some missed) and maybe a late resolution."""
        rng, cal = self.rng, self.cal
        resolved: dt.date | None = None
        if rng.random() < 0.45:
            resolved = cal.on_or_after(start + dt.timedelta(days=rng.randint(45, 200)))
        if resolved is not None and resolved > cal.long_close_by:
            resolved = None
        if resolved is None and cal.long_close_by < cal.last_action:
            # it may not stay open into December (see Calendar.long_close_by): resolved late
            first = max(start + dt.timedelta(days=20), dt.date(cal.year, 10, 1))
            resolved = cal.workday_between(rng, first, cal.long_close_by) or cal.long_close_by
        month = start.month
        while month <= 12:
            last = cal.last_workday(cal.year, month)
            if resolved is not None and resolved <= last:
                break
            if start < last:
                first = max(start + dt.timedelta(days=1), dt.date(cal.year, month, 15))
                if rng.random() < 0.12 * factor and month < 12:
                    # missed: caught up after the 督办 early next month
                    day = cal.add(cal.add(last, 1), rng.randint(0, 4))
                else:
                    day = cal.workday_between(rng, first, last) or last
                if resolved is None or day < resolved:
                    key = f"progress:{day.isoformat()}"
                    summary = {"summary": f"{month} 月办理进展：已向上级部门汇报，正在协调"}
                    self.schedule(day, self._event(tid, key, day, primary, summary))
            month += 1
        return resolved

    @staticmethod
    def _event(
        ticket_id: str,
        key: str,
        day: dt.date,
        actor: str,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        kind = (
            "ticket."
            + {
                "dispatched": "dispatched",
                "resolved": "resolved",
                "feedback": "feedback_given",
                "rated": "rated",
                "reopened": "reopened",
                "progress": "progress_reported",
                "returned": "returned",
                "rerouted": "rerouted",
                "extension_requested": "extension_requested",
                "extension_granted": "extension_granted",
                "extension_refused": "extension_refused",
                "suspended": "suspended",
                "resumed": "resumed",
                "withdrawn": "withdrawn",
                "rejected": "rejected",
                "merged": "merged",
                "callback": "callback_recorded",
                "reopen_declined": "reopen_declined",
            }[key.split(":")[0]]
        )
        return {
            "event_id": f"{ticket_id}:{key}",
            "type": kind,
            "date": day.isoformat(),
            "actor": actor,
            "ticket_id": ticket_id,
            "payload": payload or {},
        }

    # -------------------------------------------------------------- running

    def run(self, kernel: Kernel, progress_label: str | None = None) -> Simulation:
        """Simulate every day: ingest, grade, plan what follows, sweep."""
        self.plan_year()
        days = Calendar.days(min(self.agenda), self.cal.end)
        progress = Progress(len(days), progress_label) if progress_label else None
        try:
            self._run(kernel, days, progress)
        finally:
            if progress is not None:
                progress.close()
        return Simulation(
            seed=self.seed,
            year=self.cal.year,
            ruleset=self.ruleset,
            ledger=self.ledger,
            projector=self.projector,
            evaluator=self.evaluator,
            firms=self.world.firms,
            problems=self.world.problems,
            events=self.events,
            stored=self.stored,
            ingest=self.ingest,
            sweeps=self.sweeps,
            last_action=self.cal.last_action,
        )

    def _run(self, kernel: Kernel, days: list[dt.date], progress: Progress | None) -> None:
        for day in days:
            items = sorted(self.agenda.pop(day, []), key=lambda item: (item[0], item[1]))
            events = [event for _, _, event in items]
            self.events.extend(events)
            report = ingest_events(
                self.ledger, [(e, SourceDoc(SOURCE, e), ()) for e in events], kernel=kernel
            )
            self.ingest.add(report)
            touched = self._catch_up()
            for ticket_id in report.graded:
                self.plan_handling(self.projector.tickets[ticket_id], day)
            if day.year == self.cal.year:
                self._sweep(day, touched)
            if progress is not None:
                progress.advance()

    def _catch_up(self) -> list[str]:
        """Feed the projector with what the ledger stored since last time; the tickets touched."""
        touched: dict[str, None] = {}
        for event in self.ledger.events(after_seq=self.cursor):
            self.cursor = event.seq or self.cursor
            self.stored.append(event)
            self.projector.feed(event)
            if event.type.startswith("ticket."):
                ticket_id = str(event.ticket_id)
                touched[ticket_id] = None
                if self.projector.tickets[ticket_id].final:
                    self.open.pop(ticket_id, None)
                else:
                    self.open[ticket_id] = None
        return list(touched)

    def _sweep(self, day: dt.date, touched: list[str]) -> None:
        """The day's deadline sweep over the open tickets (and those that closed today).

        The sweep is idempotent, but every escalation it re-issues is validated again before it
        is found to be a duplicate; so only the tickets with a warning or escalation step not
        issued before are handed to it.
        """
        states = []
        for ticket_id in sorted({*self.open, *touched}):
            state = self.projector.tickets[ticket_id]
            if not self.prefilter:
                states.append(state)
                continue
            try:
                clocks = self.evaluator.evaluate(state, day).instances
            except CalendarError:
                states.append(state)  # the sweep reports it
                continue
            steps: set[tuple[str, ...]] = set()
            for item in clocks:
                if item.state == WARNING and item.warning_on is not None and item.warning_on <= day:
                    steps.add(("warning", ticket_id, item.key))
                for esc in item.escalations:
                    steps.update(
                        (esc.step.id, ticket_id, item.key, u, esc.month or "") for u in esc.units
                    )
            if not steps <= self.issued:
                self.issued |= steps
                states.append(state)
        if not states:
            return
        result = sweep(self.ledger, self.evaluator, day, states=states)
        self.sweeps.runs += 1
        self.sweeps.notices += result.notices
        self.sweeps.events += result.events
        self.sweeps.by_kind.update(result.by_kind)
        self.sweeps.errors += result.errors
        self._catch_up()


def simulate(
    ledger: Ledger,
    ruleset: RuleSet,
    calendar: WorkCalendar,
    *,
    seed: int = DEFAULT_SEED,
    enterprises: int = DEFAULT_ENTERPRISES,
    problems: int = DEFAULT_PROBLEMS,
    progress_label: str | None = None,
) -> Simulation:
    """Simulate the demo year into ``ledger`` (with a progress bar when a label is given)."""
    simulator = Simulator(
        ledger, ruleset, calendar, seed=seed, enterprises=enterprises, problems=problems
    )
    kernel = Kernel(ruleset)
    try:
        return simulator.run(kernel, progress_label)
    finally:
        kernel.close()


def generate(
    seed: int = DEFAULT_SEED,
    *,
    enterprises: int = DEFAULT_ENTERPRISES,
    problems: int = DEFAULT_PROBLEMS,
    rules_dir: Path | str | None = None,
) -> Simulation:
    """The demo year in an in-memory ledger (for tests and experiments)."""
    ruleset = load_rules(rules_dir)
    assert ruleset.calendar is not None
    ledger = Ledger(
        MemoryStorage(), ruleset.reference, notifiers=[NOTIFIER], guard=step_guard(ruleset)
    )
    return simulate(
        ledger, ruleset, ruleset.calendar, seed=seed, enterprises=enterprises, problems=problems
    )
