"""Names of the demo territory: communities, roads, compounds, departments and organisations,
and valid unified social credit codes. All made up; any likeness to a real unit is chance."""

from __future__ import annotations

import random
from dataclasses import dataclass

from stdnum.cn import uscc

DISTRICT = ("110119000000", "延庆区", 40.4565, 115.9745)
STREET = ("110119001000", "香水园街道")

# The first must stay 香水园社区: README and the tests search for it by pinyin initials (xsy).
COMMUNITY_NAMES = (
    "香水园社区",
    "新兴西社区",
    "新兴东社区",
    "高塔社区",
    "湖南东社区",
    "湖南西社区",
    "胜芳社区",
    "庆园社区",
    "妫水苑社区",
    "康安社区",
    "川北社区",
)
# Extra communities for --scale above 1: stem + direction, never repeating a base name.
EXTRA_STEMS = (
    "东关",
    "西关",
    "南菜园",
    "北关",
    "夏都",
    "温泉",
    "舜泽",
    "龙庆",
    "莲花池",
    "振兴",
    "永安",
    "民主",
    "新华",
    "金玉",
    "长城",
    "八达",
    "石河",
    "营城",
    "上水",
    "玉皇",
    "中和",
    "静安",
)
EXTRA_SUFFIXES = ("", "东", "西", "南", "北", "中", "新", "一", "二", "三", "四", "五")

ROADS = (
    "妫水北街",
    "妫水南街",
    "高塔街",
    "东外大街",
    "新华街",
    "庆园街",
    "湖南东路",
    "湖南西路",
    "香水园路",
    "儒林街",
    "东顺城街",
    "西顺城街",
    "振兴南路",
    "舜泽园路",
    "莲花池路",
    "康安路",
    "胜芳路",
    "川北大街",
    "世纪街",
    "夏都大街",
    "万象路",
    "民主街",
    "温泉路",
    "站前街",
)
COMPOUND_SUFFIXES = ("小区", "家园", "花园", "嘉园", "南里", "北里", "东区", "西区", "公寓", "新村")
COMPOUND_STEMS = (
    "夏都",
    "温泉",
    "格兰",
    "康庄",
    "龙庆",
    "妫川",
    "阳光",
    "金色",
    "和平",
    "幸福",
    "百合",
    "紫荆",
)
COMMERCIAL_NAMES = ("商业楼", "商务大厦", "综合楼", "购物中心", "农贸市场", "商业中心")


@dataclass(frozen=True)
class DepartmentSpec:
    code_suffix: str
    name: str
    kind: str
    phone: str


# The first is the one the "department" demo login is granted on.
DEPARTMENTS = (
    DepartmentSpec("CGW", "区城市管理委员会", "law_enforcement", "010-69101001"),
    DepartmentSpec("SWJ", "区水务局", "administration", "010-69101002"),
    DepartmentSpec("ZJW", "区住房和城乡建设委员会", "administration", "010-69101003"),
    DepartmentSpec("SJJ", "区市场监督管理局", "law_enforcement", "010-69101004"),
    DepartmentSpec("STJ", "区生态环境局", "law_enforcement", "010-69101005"),
    DepartmentSpec("JTJ", "区交通局", "administration", "010-69101006"),
    DepartmentSpec("GAFJ", "区公安分局", "law_enforcement", "010-69101007"),
    DepartmentSpec("GDGS", "区供电公司", "utility", "010-69101008"),
    DepartmentSpec("RQGS", "区燃气公司", "utility", "010-69101009"),
    DepartmentSpec("MZJ", "区民政局", "public_service", "010-69101010"),
)


def community_name(index: int) -> str:
    """Name of the community at 0-based ``index``; unique for every index."""
    if index < len(COMMUNITY_NAMES):
        return COMMUNITY_NAMES[index]
    extra = index - len(COMMUNITY_NAMES)
    cycle, extra = divmod(extra, len(EXTRA_STEMS) * len(EXTRA_SUFFIXES))
    stem, suffix = EXTRA_STEMS[extra % len(EXTRA_STEMS)], EXTRA_SUFFIXES[extra // len(EXTRA_STEMS)]
    return f"{stem}{suffix}{cycle + 1 if cycle else ''}社区"


# Every road name once: the base list, then stems with road suffixes (about 150 in all).
ALL_ROADS = tuple(
    dict.fromkeys(
        [
            *ROADS,
            *(
                f"{stem}{kind}"
                for kind in ("路", "街", "东路", "西路", "北街", "南街")
                for stem in EXTRA_STEMS
            ),
        ]
    )
)


def road_name(index: int) -> str:
    """Roads repeat past about 150: a long road then runs through several communities."""
    return ALL_ROADS[index % len(ALL_ROADS)]


CHINESE_DIGITS = "零一二三四五六七八九十"


def grid_name(community: str, number: int) -> str:
    digits = CHINESE_DIGITS[number] if number <= 10 else str(number)
    return f"{community.removesuffix('社区')}第{digits}网格"


# --- Organisations ---------------------------------------------------------------------------
# Shares of the ~100 units (domain.md §1: 99 large resident units).
ORG_KIND_SHARES = (
    ("resident_unit", 0.42),
    ("enterprise", 0.33),
    ("social", 0.12),
    ("property_management", 0.13),
)
RESIDENT_UNITS = (
    # (name template, USCC authority+type, employees range)
    ("北京市延庆区{place}小学", "12", (40, 120)),
    ("北京市延庆区{place}中学", "12", (60, 200)),
    ("延庆区{place}幼儿园", "12", (15, 50)),
    ("{place}社区卫生服务中心", "12", (20, 80)),
    ("延庆区{place}医院", "12", (150, 600)),
    ("延庆区税务局{place}税务所", "11", (15, 40)),
    ("延庆区{place}派出所", "11", (30, 90)),
    ("延庆区{place}图书分馆", "12", (5, 20)),
    ("延庆区{place}文化活动中心", "12", (5, 25)),
    ("延庆区{place}供水所", "12", (10, 40)),
    ("中国邮政延庆{place}邮政所", "91", (8, 30)),
)
ENTERPRISE_INDUSTRIES = (
    "商贸",
    "科技",
    "餐饮管理",
    "建筑工程",
    "文化传媒",
    "物流",
    "酒店管理",
    "葡萄酒",
    "家政服务",
    "医药连锁",
)
BRAND_WORDS = (
    "妫川",
    "龙庆",
    "夏都",
    "长城",
    "八达",
    "松山",
    "海坨",
    "康庄",
    "永宁",
    "冬奥",
    "世园",
    "山水",
)
SOCIAL_UNITS = (
    ("{place}老年协会", "51"),
    ("{place}文体协会", "51"),
    ("延庆区{brand}志愿者协会", "51"),
    ("延庆区{brand}社会工作事务所", "52"),
    ("延庆区{brand}养老服务中心", "52"),
)
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
REGION = "110119"


@dataclass(frozen=True)
class OrganisationSpec:
    kind: str
    name: str
    credit_code: str
    employees: int


class OrganisationMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_names: set[str] = set()

    def make(self, kind: str, place: str) -> OrganisationSpec:
        for _attempt in range(50):
            name, authority, employees = self._draw(kind, place)
            if name not in self.used_names:
                break
        else:
            name = f"{name}{len(self.used_names)}"
        self.used_names.add(name)
        return OrganisationSpec(kind, name, credit_code(authority, self.rng), employees)

    def _draw(self, kind: str, place: str) -> tuple[str, str, int]:
        rng, brand = self.rng, self.rng.choice(BRAND_WORDS)
        if kind == "resident_unit":
            template, authority, (low, high) = rng.choice(RESIDENT_UNITS)
            return template.format(place=place), authority, rng.randint(low, high)
        if kind == "enterprise":
            return (
                f"北京{brand}{rng.choice(ENTERPRISE_INDUSTRIES)}有限公司",
                "91",
                rng.randint(5, 300),
            )
        if kind == "social":
            template, authority = rng.choice(SOCIAL_UNITS)
            return template.format(place=place, brand=brand), authority, rng.randint(3, 30)
        return f"北京{brand}{place}物业管理有限公司", "91", rng.randint(10, 80)


def organisation_code(rng: random.Random) -> str:
    """9-character organisation code (GB 11714): 8 digits and a MOD 11 check character."""
    body = f"{rng.randint(10_000_000, 99_999_999)}"
    remainder = 11 - sum(int(d) * w for d, w in zip(body, ORG_CODE_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(remainder, str(remainder))


def credit_code(authority_and_type: str, rng: random.Random) -> str:
    """18-character unified social credit code (GB 32100) with a valid check character."""
    body = f"{authority_and_type}{REGION}{organisation_code(rng)}"
    return body + uscc.calc_check_digit(body)
