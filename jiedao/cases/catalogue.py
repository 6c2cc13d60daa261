"""The default case catalogue: 大类 and 小类 a street starts from (domain.md §3).

Three families, coded in the GB/T 30428 manner (two digits for the 大类, two more for the 小类),
with a letter in front so the families never collide:

- ``B`` 部件 — city components of digital urban management (公用设施, 交通设施, 园林绿化, 房屋管理);
- ``S`` 事件 — events of digital urban management (市容环境, 街面秩序, 施工管理, 突发事件, 宣传广告);
- ``M`` 民生诉求 — what residents call 12345 about (供水, 供暖, 供电, 燃气, 排水, 停车 …).

Deadlines are the domain's defaults (resolve in 5 working days, urgent 1, 15 with an approved
extension; acknowledge in 120 minutes, urgent 30; contact the caller within 24 hours), except
for a few hazards (gas smell, a missing manhole cover, a collapsed road) that must be resolved
within one working day and acknowledged within 30 minutes. ``attributes`` are Open311 GeoReport
v2 service-definition attributes.

``load_default_catalogue`` only ever *adds* codes that are missing. A category that exists —
whether the street edited it or not — is left exactly as it is: the street owns its catalogue
once it has one, and a default never overwrites the street's choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import transaction

from jiedao.audit.services import log_action, snapshot
from jiedao.cases.models import Category, HandlerType

# domain.md §3 defaults.
DEADLINE_DAYS = 5
URGENT_DEADLINE_DAYS = 1
EXTENDED_DEADLINE_DAYS = 15
ACKNOWLEDGE_MINUTES = 120
URGENT_ACKNOWLEDGE_MINUTES = 30
CONTACT_HOURS = 24

C, S, D, P, U = (
    HandlerType.COMMUNITY,
    HandlerType.STREET,
    HandlerType.DEPARTMENT,
    HandlerType.PROPERTY,
    HandlerType.UTILITY,
)


def choice_attribute(
    code: str, order: int, description: str, values: list[tuple[str, str]], required: bool = True
) -> dict[str, Any]:
    """A GeoReport v2 ``singlevaluelist`` attribute."""
    return {
        "variable": True,
        "code": code,
        "datatype": "singlevaluelist",
        "required": required,
        "datatype_description": "",
        "order": order,
        "description": description,
        "values": [{"key": key, "name": name} for key, name in values],
    }


def number_attribute(
    code: str, order: int, description: str, unit: str, required: bool = True
) -> dict[str, Any]:
    """A GeoReport v2 ``number`` attribute; ``datatype_description`` says the unit."""
    return {
        "variable": True,
        "code": code,
        "datatype": "number",
        "required": required,
        "datatype_description": unit,
        "order": order,
        "description": description,
        "values": [],
    }


TIME_OF_DAY = choice_attribute(
    "time_of_day",
    1,
    "噪音主要出现在什么时段？",
    [
        ("morning", "早间（6:00–8:00）"),
        ("day", "白天（8:00–20:00）"),
        ("evening", "傍晚（20:00–22:00）"),
        ("night", "夜间（22:00–次日6:00）"),
    ],
)
AFFECTED_SCOPE = choice_attribute(
    "affected_scope",
    1,
    "影响范围",
    [
        ("home", "仅本户"),
        ("building", "整栋楼"),
        ("compound", "整个小区"),
        ("area", "周边多个小区"),
    ],
)

ATTRIBUTES: dict[str, tuple[dict[str, Any], ...]] = {
    "M0201": (
        number_attribute("indoor_temperature", 1, "室内温度（℃）", "摄氏度，可带一位小数，如 16.5"),
        choice_attribute(
            "heating_kind",
            2,
            "供暖方式",
            [("central", "集中供暖"), ("building", "小区锅炉房"), ("own", "自采暖")],
            required=False,
        ),
    ),
    "M0101": (AFFECTED_SCOPE,),
    "M0301": (AFFECTED_SCOPE,),
    "M0401": (
        choice_attribute("smell_now", 1, "现在是否仍能闻到燃气味？", [("yes", "是"), ("no", "否")]),
    ),
    "B0403": (
        choice_attribute(
            "someone_trapped", 1, "是否有人被困在电梯内？", [("yes", "是"), ("no", "否")]
        ),
    ),
    "M0801": (
        TIME_OF_DAY,
        choice_attribute(
            "noise_source",
            2,
            "噪音来源",
            [("renovation", "装修"), ("neighbour", "邻居生活"), ("pet", "宠物"), ("other", "其他")],
            required=False,
        ),
    ),
    "M0802": (TIME_OF_DAY,),
    "M0803": (TIME_OF_DAY,),
    "M0804": (TIME_OF_DAY,),
}

# Hazards: one working day to resolve, 30 minutes to acknowledge.
HAZARDS = frozenset({"M0401", "S0401", "S0404", "B0403"})


@dataclass(frozen=True)
class Sub:
    code: str
    name: str
    handler_type: str


@dataclass(frozen=True)
class Main:
    code: str
    name: str
    handler_type: str
    children: tuple[Sub, ...] = field(default=())


def _subs(*rows: tuple[str, str, str]) -> tuple[Sub, ...]:
    return tuple(Sub(code, name, handler) for code, name, handler in rows)


DEFAULT_CATALOGUE: tuple[Main, ...] = (
    # --- 部件: city components --------------------------------------------------------------
    Main(
        "B01",
        "公用设施",
        D,
        _subs(
            ("B0101", "上水井盖", D),
            ("B0102", "污水井盖", D),
            ("B0103", "雨水箅子", D),
            ("B0104", "电力井盖", U),
            ("B0105", "燃气井盖", U),
            ("B0106", "消防栓", D),
            ("B0107", "路灯", D),
            ("B0108", "公共厕所", S),
            ("B0109", "垃圾箱", S),
            ("B0110", "健身器材", C),
        ),
    ),
    Main(
        "B02",
        "交通设施",
        D,
        _subs(
            ("B0201", "交通信号灯", D),
            ("B0202", "交通标志牌", D),
            ("B0203", "道路护栏", D),
            ("B0204", "公交站亭", D),
            ("B0205", "人行道破损", D),
            ("B0206", "非机动车停放设施", S),
        ),
    ),
    Main(
        "B03",
        "园林绿化",
        S,
        _subs(("B0301", "行道树", S), ("B0302", "绿地", S), ("B0303", "花坛花箱", C)),
    ),
    Main(
        "B04",
        "房屋管理",
        P,
        _subs(
            ("B0401", "楼体外立面", P),
            ("B0402", "单元门与楼道设施", P),
            ("B0403", "电梯", P),
            ("B0404", "无障碍设施", S),
        ),
    ),
    # --- 事件: events -----------------------------------------------------------------------
    Main(
        "S01",
        "市容环境",
        S,
        _subs(
            ("S0101", "暴露垃圾", C),
            ("S0102", "积存垃圾渣土", S),
            ("S0103", "道路不洁", S),
            ("S0104", "乱张贴小广告", C),
            ("S0105", "乱堆物料", C),
            ("S0106", "焚烧垃圾树叶", D),
            ("S0107", "露天烧烤", D),
        ),
    ),
    Main(
        "S02",
        "街面秩序",
        D,
        _subs(
            ("S0201", "占道经营", D),
            ("S0202", "流动摊贩", D),
            ("S0203", "店外经营", D),
            ("S0204", "非机动车乱停放", S),
            ("S0205", "机动车违章停放", D),
        ),
    ),
    Main(
        "S03",
        "施工管理",
        D,
        _subs(("S0301", "施工占道", D), ("S0302", "道路遗撒", D), ("S0303", "工地扬尘", D)),
    ),
    Main(
        "S04",
        "突发事件",
        S,
        _subs(
            ("S0401", "路面塌陷", D),
            ("S0402", "道路积水", D),
            ("S0403", "树木倒伏", S),
            ("S0404", "井盖缺失", D),
        ),
    ),
    Main(
        "S05",
        "宣传广告",
        D,
        _subs(("S0501", "违规户外广告", D), ("S0502", "破损广告牌匾", S)),
    ),
    # --- 民生诉求: residents' requests ------------------------------------------------------
    Main(
        "M01",
        "供水",
        U,
        _subs(("M0101", "停水", U), ("M0102", "水压低", U), ("M0103", "水质问题", U)),
    ),
    Main(
        "M02",
        "供暖",
        U,
        _subs(("M0201", "暖气不热", U), ("M0202", "暖气漏水", P), ("M0203", "供暖收费", U)),
    ),
    Main(
        "M03",
        "供电",
        U,
        _subs(("M0301", "停电", U), ("M0302", "电压不稳", U), ("M0303", "电力线路隐患", U)),
    ),
    Main(
        "M04",
        "燃气",
        U,
        _subs(("M0401", "燃气异味", U), ("M0402", "停气", U), ("M0403", "燃气表具与缴费", U)),
    ),
    Main(
        "M05",
        "排水",
        D,
        _subs(("M0501", "排水管道", D), ("M0502", "化粪池满溢", P), ("M0503", "雨水管网", D)),
    ),
    Main(
        "M06",
        "停车",
        C,
        _subs(
            ("M0601", "小区停车管理", P),
            ("M0602", "占用消防通道", S),
            ("M0603", "私装地锁", C),
            ("M0604", "僵尸车", S),
        ),
    ),
    Main(
        "M07",
        "环境卫生",
        C,
        _subs(
            ("M0701", "垃圾清运不及时", C),
            ("M0702", "垃圾分类", C),
            ("M0703", "楼道堆物", P),
            ("M0704", "病媒生物", C),
        ),
    ),
    Main(
        "M08",
        "噪音扰民",
        S,
        _subs(
            ("M0801", "生活噪音", C),
            ("M0802", "施工噪音", D),
            ("M0803", "商业噪音", D),
            ("M0804", "广场舞噪音", C),
        ),
    ),
    Main(
        "M09",
        "物业管理",
        P,
        _subs(
            ("M0901", "物业服务质量", P),
            ("M0902", "物业收费", P),
            ("M0903", "楼道照明", P),
            ("M0904", "小区绿化养护", P),
        ),
    ),
    Main(
        "M10",
        "违章建设",
        D,
        _subs(("M1001", "私搭乱建", D), ("M1002", "擅改房屋结构", D), ("M1003", "占用公共空间", S)),
    ),
    Main(
        "M11",
        "市场监管",
        D,
        _subs(("M1101", "食品安全", D), ("M1102", "价格与计量", D), ("M1103", "无照经营", D)),
    ),
    Main(
        "M12",
        "社会保障",
        S,
        _subs(("M1201", "养老服务", S), ("M1202", "困难救助", S), ("M1203", "残疾人服务", C)),
    ),
    Main(
        "M13",
        "邻里纠纷",
        C,
        _subs(("M1301", "邻里矛盾", C), ("M1302", "房屋漏水纠纷", C)),
    ),
    Main(
        "M14",
        "犬只与宠物",
        D,
        _subs(("M1401", "违规养犬", D), ("M1402", "流浪动物", S)),
    ),
)


def _fields(code: str, name: str, handler_type: str) -> dict[str, Any]:
    hazard = code in HAZARDS
    return {
        "code": code,
        "name": name,
        "handler_type": handler_type,
        "deadline_days": URGENT_DEADLINE_DAYS if hazard else DEADLINE_DAYS,
        "urgent_deadline_days": URGENT_DEADLINE_DAYS,
        "extended_deadline_days": EXTENDED_DEADLINE_DAYS,
        "acknowledge_minutes": URGENT_ACKNOWLEDGE_MINUTES if hazard else ACKNOWLEDGE_MINUTES,
        "urgent_acknowledge_minutes": URGENT_ACKNOWLEDGE_MINUTES,
        "contact_hours": CONTACT_HOURS,
        "attributes": [dict(a) for a in ATTRIBUTES.get(code, ())],
        "active": True,
    }


def catalogue_rows() -> list[tuple[dict[str, Any], str | None]]:
    """Every default category as (fields, parent code), 大类 before their 小类."""
    rows: list[tuple[dict[str, Any], str | None]] = []
    for main in DEFAULT_CATALOGUE:
        rows.append((_fields(main.code, main.name, main.handler_type), None))
        rows += [(_fields(s.code, s.name, s.handler_type), main.code) for s in main.children]
    return rows


class CatalogueLoad(NamedTuple):
    created: int
    # Existing categories changed: always 0, because an existing code is never touched (see
    # the module docstring). Kept in the result so callers report both numbers honestly.
    updated: int


@transaction.atomic
def load_default_catalogue(actor: Any = None) -> CatalogueLoad:
    """Create every default category whose code is missing; leave every existing one as it is.

    Idempotent: a second run creates nothing. A missing 小类 whose 大类 code exists is put
    under the existing 大类 (whatever the street renamed it to); if the street reused that code
    for a 小类, the default 小类 are left out rather than nested three deep. Each new category gets its own
    audit entry ``cases.category.create``. ``actor`` None is the system (commands, the demo)."""
    existing = {c.code: c for c in Category.objects.select_for_update()}
    created = 0
    for fields, parent_code in catalogue_rows():
        if fields["code"] in existing:
            continue
        parent = existing.get(parent_code) if parent_code else None
        if parent is not None and not parent.is_main:
            continue  # the street reused the 大类 code for a 小类: no place for the children
        category = Category(parent=parent, **fields)
        category.full_clean()
        category.save()
        existing[category.code] = category
        log_action(
            actor,
            "cases.category.create",
            category,
            after=snapshot(category),
            note="default catalogue",
            territory_code="",
        )
        created += 1
    return CatalogueLoad(created=created, updated=0)
