"""A year of case history for the demo street, so dashboards and inboxes are alive at first start.

About 8,000 cases a year at scale 1 (proportional to the scale) for the 365 days up to now:
spread over the grids by population, fewer at weekends and on holidays, with the seasons (heating
in Nov–Mar, noise and barbecues in summer, flooding in July and August …), described in Chinese
composed from templates per category, from the usual channels (12345 hotline most), ~5 % urgent.

Each case is walked through the state machine by computing the timestamps directly, and the rows
are inserted in bulk (through the services a year would take minutes). The walk obeys the same
rules: every step is looked up in ``workflow.TABLE`` (a step the table does not allow is a bug
here and raises); the effects that read no clock are the services' own (``services.EFFECTS``:
return, rework, extensions, callback, reopen …, and ``_set_handler`` for dispatch); the steps
that read the clock (register, dispatch …) count their deadlines with the workdays calendar's
``add_working_days``/``add_hours`` exactly as ``services._start_the_clock`` and
``services._dispatch`` do, with the step's own time (tests/demo/test_case_history.py compares
them with the services' results). So the database's check constraints hold, the events chain
``from_node → to_node`` and the counters equal the events.

Outcomes: most cases are closed and rated (about 80 % satisfied or mostly satisfied); some
dissatisfied callers get their case reopened; some are returned (退单) and dispatched again, sent
back for rework, extended; ~3 % are not registered, a few merged into an open case of the same
category; some bring a summons (吹哨) of district departments, a few of which report (报到) late.
Cases whose next step would lie in the future stay where they are, so the last weeks are open at
every node, some overdue. A fixed set of "showcase" cases in the first grid puts work in every
demo sign-in's inbox whatever the scale, and the ``resident`` sign-in reports five cases.

Deterministic for a seed and a "now" (the run's ``timezone.now()`` unless given).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time as clock
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.db import connection
from django.db.models import Count, Field, ForeignKey, Max, Model
from django.utils import timezone

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.cases import routing, services, summons
from jiedao.cases.catalogue import load_default_catalogue
from jiedao.cases.models import (
    DEPARTMENT_HANDLERS,
    Case,
    CaseEvent,
    Category,
    Channel,
    DeliveryState,
    HandlerType,
    Node,
    PublicStatus,
    Rating,
    RoutingRule,
    Summons,
)
from jiedao.cases.workflow import TABLE, Action
from jiedao.core.crypto import blind_index, encrypt
from jiedao.core.fields import EncryptedTextField
from jiedao.demo import geometry as geo
from jiedao.demo import staff
from jiedao.demo.people import NameMaker
from jiedao.registry.models import Person
from jiedao.territory import codes
from jiedao.territory.models import Building, Department, Organisation
from jiedao.workdays.calendar import (
    SHANGHAI,
    Deadline,
    add_working_days,
    calendar_for_code,
    is_working_day,
    local_date,
)

if TYPE_CHECKING:
    from jiedao.demo.world import GridSite, WorldBuilder

CASES_PER_YEAR = 8000  # at scale 1
INSERT_BATCH = 5000
DAYS = 365
URGENT_SHARE = 0.045  # plus the hazards, which are urgent about half the time: ~5 % in all
# --- The demo's routing table --------------------------------------------------------------
# Rules for the district (every street in it): 小类 → (handler type, department code suffix).
# A 大类 code stands for all its 小类. Every 小类 whose default handler is a department or a
# utility has a rule, so dispatching never needs a dispatcher's choice.
DEMO_ROUTES: dict[str, tuple[str, str | None, str]] = {
    "B0101": (HandlerType.DEPARTMENT, "SWJ", "上水井盖归区水务局"),
    "B0102": (HandlerType.DEPARTMENT, "SWJ", "污水井盖归区水务局"),
    "B0103": (HandlerType.DEPARTMENT, "SWJ", "雨水设施归区水务局"),
    "B0104": (HandlerType.UTILITY, "GDGS", "电力设施归供电公司"),
    "B0105": (HandlerType.UTILITY, "RQGS", "燃气设施归燃气公司"),
    "B0106": (HandlerType.DEPARTMENT, "SWJ", "市政消火栓由水务局维护"),
    "B0107": (HandlerType.DEPARTMENT, "CGW", "路灯由区城管委管理"),
    "B0201": (HandlerType.DEPARTMENT, "GAFJ", "信号灯由交管部门维护"),
    "B0202": (HandlerType.DEPARTMENT, "GAFJ", "交通标志由交管部门维护"),
    "B0203": (HandlerType.DEPARTMENT, "JTJ", ""),
    "B0204": (HandlerType.DEPARTMENT, "JTJ", ""),
    "B0205": (HandlerType.DEPARTMENT, "CGW", "人行道由区城管委养护"),
    "S0106": (HandlerType.DEPARTMENT, "STJ", ""),
    "S0107": (HandlerType.DEPARTMENT, "CGW", ""),
    "S0201": (HandlerType.DEPARTMENT, "CGW", "城管执法"),
    "S0202": (HandlerType.DEPARTMENT, "CGW", "城管执法"),
    "S0203": (HandlerType.DEPARTMENT, "CGW", "城管执法"),
    "S0205": (HandlerType.DEPARTMENT, "GAFJ", ""),
    "S0301": (HandlerType.DEPARTMENT, "ZJW", ""),
    "S0302": (HandlerType.DEPARTMENT, "CGW", ""),
    "S0303": (HandlerType.DEPARTMENT, "STJ", ""),
    "S0401": (HandlerType.DEPARTMENT, "JTJ", ""),
    "S0402": (HandlerType.DEPARTMENT, "SWJ", ""),
    "S0404": (HandlerType.DEPARTMENT, "CGW", ""),
    "S0501": (HandlerType.DEPARTMENT, "CGW", ""),
    "M01": (HandlerType.DEPARTMENT, "SWJ", "县城供水由区水务局负责"),
    "M02": (HandlerType.PROPERTY, None, "本街道各小区由物业锅炉房供暖"),
    "M03": (HandlerType.UTILITY, "GDGS", ""),
    "M04": (HandlerType.UTILITY, "RQGS", ""),
    "M0501": (HandlerType.DEPARTMENT, "SWJ", "排水管道归区水务局"),
    "M0503": (HandlerType.DEPARTMENT, "SWJ", ""),
    "M0802": (HandlerType.DEPARTMENT, "STJ", ""),
    "M0803": (HandlerType.DEPARTMENT, "CGW", ""),
    "M1001": (HandlerType.DEPARTMENT, "CGW", "违法建设由城管执法"),
    "M1002": (HandlerType.DEPARTMENT, "ZJW", ""),
    "M11": (HandlerType.DEPARTMENT, "SJJ", ""),
    "M1401": (HandlerType.DEPARTMENT, "GAFJ", ""),
}
# One rule for a community beats the category's default there (shows the specificity).
COMMUNITY_ROUTES = {"S0204": (HandlerType.COMMUNITY, "香水园社区自管非机动车停放")}

# Which departments the street summons (吹哨) for which 小类.
SUMMONED = {
    "M1001": ("ZJW", "CGW"),
    "M1002": ("CGW", "ZJW"),
    "M1003": ("CGW",),
    "S0201": ("SJJ", "CGW"),
    "S0202": ("SJJ", "CGW"),
    "S0203": ("SJJ", "CGW"),
    "S0301": ("CGW", "JTJ"),
    "S0303": ("ZJW", "STJ"),
    "M0802": ("ZJW", "CGW"),
    "M0501": ("ZJW", "SWJ"),
    "S0402": ("JTJ", "SWJ"),
    "M0602": ("GAFJ", "CGW"),
    "M0604": ("GAFJ", "CGW"),
    "M1103": ("SJJ", "CGW"),
    "S0107": ("STJ", "CGW"),
}
SUMMON_SHARE = 0.18

# --- Volumes ---------------------------------------------------------------------------------
# Relative yearly volume per 小类 (1 when not listed).
VOLUME = {
    "M0201": 9, "M0901": 7, "M0701": 6, "M0801": 6, "M0601": 5, "S0101": 5, "S0201": 4,
    "S0202": 4, "S0204": 4, "S0104": 4, "M0903": 4, "M0602": 3, "M0501": 3, "M1001": 3,
    "M0902": 3, "B0107": 3, "S0205": 3, "M0804": 3, "M0101": 3, "M0802": 3, "M0703": 3,
    "M1301": 3, "M1302": 2, "M0301": 2, "S0105": 2, "S0103": 2, "M1401": 2, "M1101": 2,
    "B0205": 2, "B0402": 2, "B0403": 2, "M0202": 2, "M0102": 2, "M0401": 1.5, "B0301": 2,
    "M0704": 1.5, "M1201": 1.5, "S0102": 1.5, "S0203": 2, "M0803": 1.5, "M0604": 1.5,
    "B0110": 0.6, "B0106": 0.4, "B0204": 0.5, "B0202": 0.5, "M1203": 0.5,
    "S0401": 0.3, "S0404": 0.4, "B0105": 0.4, "B0104": 0.5, "S0502": 0.6, "M0403": 0.8,
}  # fmt: skip
# Monthly factor per 小类 (January first); 1 all year when not listed.
SEASONS = {
    "M0201": (2.2, 1.5, 0.8, 0.05, 0, 0, 0, 0, 0, 0.2, 3.0, 2.5),
    "M0202": (1.5, 1.0, 0.5, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.2, 2.0, 1.5),
    "M0203": (1.0, 0.6, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05, 0.2, 1.5, 2.5, 1.5),
    "M0801": (0.7, 0.8, 0.9, 1.0, 1.3, 1.5, 1.7, 1.7, 1.2, 1.0, 0.8, 0.7),
    "M0802": (0.3, 0.3, 1.0, 1.4, 1.5, 1.5, 1.4, 1.4, 1.3, 1.3, 1.0, 0.4),
    "M0803": (0.6, 0.8, 0.8, 1.0, 1.2, 1.4, 1.5, 1.5, 1.2, 1.0, 0.7, 0.8),
    "M0804": (0.2, 0.3, 0.6, 1.2, 1.8, 2.2, 2.2, 2.2, 1.8, 1.2, 0.4, 0.2),
    "S0107": (0.1, 0.1, 0.3, 0.8, 1.5, 2.8, 3.2, 3.0, 1.8, 0.6, 0.2, 0.1),
    "S0106": (0.6, 0.6, 1.8, 2.0, 0.6, 0.4, 0.4, 0.4, 0.6, 1.8, 2.0, 0.8),
    "M0101": (0.8, 0.7, 0.7, 0.8, 1.0, 1.4, 1.6, 1.6, 1.1, 0.8, 0.8, 0.9),
    "M0102": (0.6, 0.6, 0.7, 0.9, 1.2, 1.5, 1.6, 1.5, 1.1, 0.8, 0.7, 0.6),
    "M0301": (1.2, 0.9, 0.7, 0.7, 0.8, 1.3, 2.0, 2.0, 1.0, 0.7, 0.8, 1.1),
    "M0401": (1.6, 1.4, 1.0, 0.8, 0.6, 0.5, 0.5, 0.5, 0.7, 1.0, 1.4, 1.6),
    "M0402": (1.5, 1.3, 1.0, 0.8, 0.6, 0.5, 0.5, 0.5, 0.7, 1.0, 1.4, 1.6),
    "S0402": (0, 0, 0.1, 0.3, 0.6, 1.5, 4.0, 3.5, 0.8, 0.2, 0, 0),
    "M0503": (0.1, 0.1, 0.3, 0.5, 0.8, 1.5, 3.5, 3.0, 1.0, 0.4, 0.2, 0.1),
    "B0103": (0.3, 0.3, 0.5, 0.7, 0.9, 1.5, 3.0, 2.8, 1.0, 0.6, 0.6, 0.3),
    "S0403": (0.3, 0.4, 0.6, 0.9, 1.0, 1.8, 2.6, 2.4, 1.0, 0.5, 0.5, 0.3),
    "B0301": (0.4, 0.4, 0.8, 1.3, 1.5, 1.6, 1.6, 1.5, 1.2, 0.9, 0.6, 0.4),
    "B0302": (0.3, 0.3, 0.7, 1.4, 1.6, 1.6, 1.5, 1.4, 1.2, 0.9, 0.5, 0.3),
    "M0904": (0.3, 0.3, 0.8, 1.4, 1.6, 1.6, 1.5, 1.4, 1.2, 0.8, 0.5, 0.3),
    "M0704": (0.2, 0.2, 0.4, 0.7, 1.2, 2.0, 2.6, 2.6, 1.6, 0.8, 0.3, 0.2),
    "M0701": (1.0, 1.3, 0.9, 0.9, 1.0, 1.2, 1.4, 1.4, 1.1, 1.0, 0.8, 0.9),
    "S0303": (0.5, 0.6, 1.6, 1.8, 1.5, 1.0, 0.8, 0.8, 1.0, 1.1, 0.9, 0.5),
    "S0103": (1.0, 1.6, 1.2, 1.1, 0.9, 0.9, 0.9, 0.9, 0.9, 1.1, 1.1, 1.0),
    "M1402": (0.7, 0.7, 0.9, 1.1, 1.2, 1.2, 1.2, 1.2, 1.1, 1.0, 0.9, 0.8),
}
WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.95, 0.8, 0.75)
HOLIDAY_FACTOR = 0.7
HAZARDS = frozenset({"M0401", "S0401", "S0404", "B0403"})

# Channel shares by family: B/S (components and events) are mostly found on patrol.
CHANNELS = {
    "urban": ((Channel.PATROL, 0.55), (Channel.HOTLINE, 0.25), (Channel.WEB, 0.10),
              (Channel.API, 0.10)),
    "civic": ((Channel.HOTLINE, 0.72), (Channel.WEB, 0.14), (Channel.SERVICE_CENTRE, 0.11),
              (Channel.API, 0.03)),
}  # fmt: skip
# When in the day each channel brings cases (weights for hours 0–23, Beijing time).
HOURS: dict[str, tuple[float, ...]] = {
    Channel.HOTLINE: (0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 1.5, 2.6, 3.0, 3.0, 2.6,
                      1.8, 2.0, 2.6, 2.6, 2.4, 2.0, 1.6, 1.8, 1.8, 1.4, 0.8, 0.4),
    Channel.WEB: (0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.2, 1.8, 2.0, 2.0, 1.8,
                  1.6, 1.6, 1.8, 1.8, 1.8, 1.8, 1.8, 2.2, 2.4, 2.2, 1.6, 0.8),
    Channel.PATROL: (0, 0, 0, 0, 0, 0, 0, 0.5, 2.5, 3.0, 3.0, 2.0,
                     0.5, 1.0, 2.5, 3.0, 2.5, 1.0, 0, 0, 0, 0, 0, 0),
    Channel.SERVICE_CENTRE: (0, 0, 0, 0, 0, 0, 0, 0, 0, 3.0, 3.0, 2.5,
                             0.5, 0, 2.5, 3.0, 2.5, 0, 0, 0, 0, 0, 0, 0),
}  # fmt: skip
HOURS[Channel.API] = HOURS[Channel.PATROL]
SOURCE_SYSTEMS: dict[str, str] = {Channel.HOTLINE: "12345", Channel.API: "城市运行管理服务平台"}

# Categories reported at a home address (a residential building) rather than on the street.
AT_HOME = ("M01", "M02", "M0301", "M0302", "M04", "M0502", "M06", "M07", "M0801", "M09",
           "M1001", "M1002", "M1003", "M12", "M13", "M1401", "B04")  # fmt: skip

# --- Outcome rates ---------------------------------------------------------------------------
REJECT_SHARE = {"caller": 0.036, "patrol": 0.01}
MERGE_SHARE = 0.02  # when an open case of the same category and community is under 72 h old
RETURN_SHARE = 0.06
RETURN_TWICE_SHARE = 0.08  # of the returned
EXTENSION_SHARE = 0.05
EXTENSION_APPROVED = 0.85
REWORK_SHARE = 0.05
RATED_SHARE = 0.94  # the rest of the callers cannot be reached
RATINGS = ((Rating.SATISFIED, 0.57), (Rating.MOSTLY_SATISFIED, 0.18), (Rating.DISSATISFIED, 0.25))
RATINGS_AFTER_REOPEN = (
    (Rating.SATISFIED, 0.55),
    (Rating.MOSTLY_SATISFIED, 0.32),
    (Rating.DISSATISFIED, 0.13),
)
REOPEN_SHARE = 0.3  # of the dissatisfied
NOT_SOLVED_BUT_MOSTLY = 0.12  # "mostly satisfied" callers who still say it is not solved
ACK_LATE_SHARE = 0.07
CONTACT_LATE_SHARE = 0.06
ANONYMOUS_SHARE = 0.04
# Median hours from starting to finishing, by handler type (log-normal, sigma 0.8).
HANDLING_HOURS: dict[str, float] = {
    HandlerType.COMMUNITY: 20,
    HandlerType.PROPERTY: 24,
    HandlerType.STREET: 30,
    HandlerType.DEPARTMENT: 40,
    HandlerType.UTILITY: 14,
}
URGENT_HANDLING_HOURS = 5

# --- Texts (data, in Chinese like the names) -------------------------------------------------
TEMPLATES: dict[str, tuple[str, ...]] = {
    "B0101": ("{place}人行道上的上水井盖松动，踩上去直晃，存在安全隐患",
              "{place}自来水井盖破损缺角，夜间行人容易绊倒"),
    "B0102": ("{place}污水井盖塌陷，周边路面下沉", "{place}污水井盖缺角，井口往外冒臭味"),
    "B0103": ("{place}雨水箅子被落叶和垃圾堵死，下雨后积水排不下去",
              "{place}雨水箅子丢失，路边留下一个敞口"),
    "B0104": ("{place}电力井盖高出路面{n}厘米左右，车辆经过颠簸", "{place}电力井盖断裂"),
    "B0105": ("{place}燃气阀门井盖缺失，已临时用锥桶围挡", "{place}燃气井盖破损下陷"),
    "B0106": ("{place}消防栓被车辆撞歪，底部渗水", "{place}消防栓被杂物遮挡，无法正常使用"),
    "B0107": ("{place}有{n}盏路灯不亮，晚上路面很黑，老人出行不便", "{place}路灯白天也亮着",
              "{place}路灯灯杆倾斜，担心倒下砸到人"),
    "B0108": ("{place}公共厕所卫生差、异味大，洗手池没有水", "{place}公厕冲水设备坏了{n}天"),
    "B0109": ("{place}果皮箱破损，垃圾散落一地", "{place}路边垃圾箱满溢，无人清理"),
    "B0110": ("{place}小广场有{n}台健身器材损坏，螺丝松动，孩子玩耍有危险",
              "{place}健身路径的漫步机转轴断裂"),
    "B0201": ("{road}路口信号灯不亮，车辆和行人通行混乱",
              "{road}人行横道绿灯时间太短，老人过不完马路"),
    "B0202": ("{place}交通标志牌被树枝遮挡，看不清", "{place}限速标志牌歪倒在路边"),
    "B0203": ("{road}中间隔离护栏被撞坏{n}米，倒在车道上", "{place}护栏缺失，行人随意横穿马路"),
    "B0204": ("{place}公交站亭顶棚破损，下雨时无法避雨", "{place}公交站牌线路已调整但没有更新"),
    "B0205": ("{place}人行道方砖松动翘起，已有老人绊倒", "{place}盲道被破坏，有一段缺失"),
    "B0206": ("{place}非机动车停放架损坏，车辆无处停放",
              "{place}电动车充电桩不能用，居民私拉电线充电"),
    "B0301": ("{place}行道树枝杈过低，刮碰行人和车辆", "{place}有{n}棵行道树枯死，存在倒伏隐患",
              "{place}树上有马蜂窝，行人经过害怕被蜇"),
    "B0302": ("{place}绿地被踩成土路，黄土裸露", "{place}公共绿地内有人私自种菜"),
    "B0303": ("{place}花箱破损，花草枯死无人管理", "{place}花坛内堆满杂物"),
    "B0401": ("{place}外墙保温层脱落，掉下来的碎块差点砸到人",
              "{place}楼顶防水层老化，顶层住户家中漏雨"),
    "B0402": ("{place}单元门禁损坏，门一直关不上", "{place}楼道扶手松动，老人上下楼不安全"),
    "B0403": ("{place}电梯频繁故障停运，本周已停{n}次，高层老人无法下楼",
              "{place}电梯运行中异响、抖动，居民不敢乘坐"),
    "B0404": ("{place}无障碍坡道被占用，轮椅无法通行", "{place}无障碍坡道太陡，也没有扶手"),
    "S0101": ("{place}路边有一堆生活垃圾无人清理，气味很大",
              "{place}绿化带内散落大量垃圾袋和饮料瓶",
              "{place}有人把装修垃圾和生活垃圾混倒在路边"),
    "S0102": ("{place}空地上堆放大量建筑渣土，已有{n}天未清运",
              "{place}积存垃圾渣土，刮风时尘土飞扬"),
    "S0103": ("{place}路面油污严重，没有人清扫", "{place}路面有大量泥土，车辆经过扬尘"),
    "S0104": ("{place}楼道和单元门上贴满小广告，清理后又被贴上",
              "{place}电线杆和变电箱上喷涂办证、开锁小广告"),
    "S0105": ("{place}有人在路边长期堆放建材和杂物，占用人行道", "{place}空地上堆放废旧家具"),
    "S0106": ("{place}有人焚烧树叶和垃圾，浓烟呛人", "{place}夜间有人在空地焚烧废旧物品"),
    "S0107": ("{place}沿街有露天烧烤，油烟直冲居民楼",
              "{place}饭馆在门外架设烧烤炉，经营到凌晨"),
    "S0201": ("{place}水果摊占用人行道经营，行人只能走机动车道",
              "{place}有商户长期占道摆摊，堵塞通道"),
    "S0202": ("{place}早高峰有流动摊贩聚集卖早点，造成拥堵",
              "{place}傍晚有流动商贩用三轮车卖菜，垃圾随地丢弃"),
    "S0203": ("{place}汽修店在门外修车，占用人行道，地面油污严重",
              "{place}餐馆在店外摆放桌椅经营"),
    "S0204": ("{place}共享单车大量堆放，堵塞人行道和盲道",
              "{place}电动车乱停在小区门口，消防车无法通行"),
    "S0205": ("{place}有机动车长期停在人行道上，行人无法通行",
              "{place}有车辆停在公交站台前，公交车无法进站"),
    "S0301": ("{place}施工围挡占用一半车道，没有设置警示标志",
              "{place}管道施工结束后路面没有恢复"),
    "S0302": ("{road}有渣土车遗撒，路面全是泥土", "{place}运输车辆遗撒砂石，影响行车安全"),
    "S0303": ("{place}工地裸土未苫盖，刮风时扬尘严重", "{place}工地车辆出入不冲洗，带泥上路"),
    "S0401": ("{place}路面出现直径约{n}0厘米的塌陷坑，已有车辆陷入",
              "{place}路面下沉开裂，疑似地下管线渗漏"),
    "S0402": ("{place}下雨后路面积水很深，行人无法通过", "{place}路口积水没过脚踝，有车辆熄火"),
    "S0403": ("{place}大风后有树木倒伏，压在路边车辆上", "{place}一棵大树倾斜严重，随时可能倒下"),
    "S0404": ("{place}井盖缺失，井口敞开，非常危险", "{place}井盖被盗，只用树枝临时遮挡"),
    "S0501": ("{place}商户私自在楼顶设置大型广告牌", "{place}有人在路边私设灯箱广告，占用人行道"),
    "S0502": ("{place}商铺牌匾破损，有坠落危险", "{place}广告牌被大风刮坏，铁架松动"),
    "M0101": ("{place}停水已经{n}个小时，没有接到任何通知，老人做饭喝水都困难",
              "{place}频繁停水，本月已停{n}次"),
    "M0102": ("{place}高层水压低，{n}楼以上白天基本没水",
              "{place}早晚用水高峰水压很小，热水器无法启动"),
    "M0103": ("{place}自来水发黄、有异味，烧开后有沉淀", "{place}水管放出的水浑浊，担心水质不合格"),
    "M0201": ("{place}暖气不热，室内温度只有{temp}℃，家里有老人孩子",
              "{place}供暖以来暖气一直温乎，实测室温{temp}℃，达不到标准",
              "{place}整栋楼暖气不热，室温{temp}℃左右"),
    "M0202": ("{place}楼上暖气管道漏水，水流到家里屋顶", "{place}楼道暖气立管漏水，地面结冰"),
    "M0203": ("{place}供暖费收费标准不清楚，要求公示收费依据",
              "{place}房屋空置仍被要求全额缴纳供暖费"),
    "M0301": ("{place}突然停电已{n}个小时，冰箱里的东西都要坏了", "{place}最近经常无故停电"),
    "M0302": ("{place}晚上电压不稳，灯光忽明忽暗", "{place}电压偏低，空调无法启动"),
    "M0303": ("{place}电线杆倾斜，电线下垂很低", "{place}楼外电线老化裸露，下雨时冒火花"),
    "M0401": ("{place}楼道内有明显燃气味，担心泄漏", "{place}家中闻到燃气味，已关闭总阀并开窗通风"),
    "M0402": ("{place}燃气突然停气，无法做饭，也没有提前通知", "{place}天然气停气已{n}个小时"),
    "M0403": ("{place}燃气卡表无法读卡，已充值但不能用气", "{place}燃气表走字异常，气费明显偏高"),
    "M0501": ("{place}排水管道堵塞，污水从检查井冒出流到路面",
              "{place}楼下污水管道返水，一楼卫生间往外冒水",
              "{place}排水管道破裂，污水渗进地下室"),
    "M0502": ("{place}化粪池满溢，污水外流，臭味很大", "{place}化粪池长期没有清掏"),
    "M0503": ("{place}雨水管网堵塞，每次下雨都积水", "{place}雨水口排水不畅"),
    "M0601": ("{place}小区停车位不足，外来车辆随意进出占用车位",
              "{place}小区停车收费标准不合理，要求物业公示"),
    "M0602": ("{place}消防通道被私家车长期占用", "{place}有人在消防通道堆放杂物、停放车辆"),
    "M0603": ("{place}有居民在公共停车位私装地锁", "{place}私装地锁占用公共车位，多次劝说无果"),
    "M0604": ("{place}有一辆车长期停放落满灰尘，轮胎瘪了，已停了{n}个月",
              "{place}废弃车辆长期占用车位"),
    "M0701": ("{place}垃圾桶已满溢，{n}天没有清运", "{place}垃圾站清运不及时，臭味大，招苍蝇"),
    "M0702": ("{place}垃圾分类桶站没有人值守，居民乱投放", "{place}厨余垃圾桶破损，没有及时更换"),
    "M0703": ("{place}楼道内堆放纸箱、旧家具，存在消防隐患", "{place}有住户在楼道停放电动车并充电"),
    "M0704": ("{place}地下室老鼠多，要求投放鼠药", "{place}垃圾站附近蚊蝇滋生"),
    "M0801": ("{place}楼上住户{when}有很大响声，严重影响休息",
              "{place}邻居装修{when}施工，电钻声很大"),
    "M0802": ("{place}附近工地{when}施工，噪音很大，影响居民休息", "{place}工地{when}打桩，震得窗户响"),
    "M0803": ("{place}沿街商铺{when}用大喇叭播放促销广告", "{place}一家KTV{when}噪音扰民"),
    "M0804": ("{place}广场舞音响声音太大，{when}持续很久", "{place}小区广场{when}有人跳舞放音乐，音量过大"),
    "M0901": ("{place}物业不作为，楼道卫生长期无人打扫", "{place}报修的问题物业一直拖着不处理"),
    "M0902": ("{place}物业费上涨未经业主同意", "{place}物业违规收取电梯费、停车费"),
    "M0903": ("{place}楼道声控灯坏了{n}个多月，晚上上下楼看不见", "{place}楼道灯不亮，有老人摔倒过"),
    "M0904": ("{place}小区树木太高遮挡阳光，要求修剪", "{place}小区绿地长期无人养护，杂草丛生"),
    "M1001": ("{place}有住户在楼顶私搭彩钢房", "{place}一楼住户私自扩建院落，占用公共绿地"),
    "M1002": ("{place}楼内有住户装修拆改承重墙", "{place}有住户私自破墙开门开店"),
    "M1003": ("{place}有居民在楼前空地私自圈地", "{place}楼顶平台被个人占用堆放杂物"),
    "M1101": ("{place}一家餐馆卫生条件差，后厨脏乱", "{place}附近超市销售过期食品"),
    "M1102": ("{place}菜市场有商户缺斤短两", "{place}商店标价与结账价格不一致"),
    "M1103": ("{place}有人在居民楼内开设无照小作坊", "{place}一家美容店无照经营"),
    "M1201": ("{place}独居老人咨询老年助餐服务", "{place}老人希望申请居家养老上门服务"),
    "M1202": ("{place}家庭生活困难，咨询低保申请条件", "{place}居民因病致贫，申请临时救助"),
    "M1203": ("{place}残疾居民咨询辅具申领", "{place}残疾居民咨询两项补贴办理"),
    "M1301": ("{place}邻居之间因楼道堆物发生矛盾，请求社区调解",
              "{place}邻居空调外机正对卧室窗户，协商无果"),
    "M1302": ("{place}楼上卫生间漏水渗到楼下，楼上住户不配合维修",
              "{place}楼上住户长期不在家，漏水无法处理"),
    "M1401": ("{place}有人遛狗不拴绳，孩子被吓到", "{place}有住户饲养大型犬，夜间叫声扰民"),
    "M1402": ("{place}流浪猫狗较多，担心伤人", "{place}有流浪狗在小区内出没，追咬行人"),
}  # fmt: skip
OPENINGS: dict[str, tuple[str, ...]] = {
    Channel.HOTLINE: ("市民来电反映：", "来电人反映，", "市民来电称，", "来电人表示，"),
    Channel.WEB: ("", "网上反映：", "居民留言："),
    Channel.PATROL: ("网格员巡查发现：", "巡查发现，", ""),
    Channel.SERVICE_CENTRE: ("居民到街道服务中心反映：", "来访群众反映，"),
    Channel.API: ("城市运行管理服务平台转派：", "数字城管监督员上报："),
}
CLOSINGS = {
    "caller": ("，希望尽快处理。", "，请相关部门尽快解决。", "，已反映多次，希望彻底解决。",
               "，诉求人希望处理后电话回复。", "。"),
    "patrol": ("，已拍照上报。", "，需派单处置。", "。"),
}  # fmt: skip
WHEN = {
    "morning": "每天早上六点多",
    "day": "白天",
    "evening": "每天晚上八九点",
    "night": "每天夜里十一点以后",
}
FINISH_NOTES = {
    HandlerType.COMMUNITY: ("社区工作人员已到现场协调处理完毕。", "已联系责任人整改到位。"),
    HandlerType.PROPERTY: ("物业已安排维修人员处理完毕。", "物业已整改，恢复正常。"),
    HandlerType.STREET: ("街道城管科已组织人员处置完毕。", "街道已协调清理完成。"),
    HandlerType.DEPARTMENT: ("已派员现场处置，问题已解决。", "已依法责令整改，现已整改到位。"),
    HandlerType.UTILITY: ("已完成抢修，恢复正常。", "已派员检修，隐患已排除。"),
}
RETURN_NOTES = {
    HandlerType.COMMUNITY: "该问题需专业部门处置，超出社区职责，请改派。",
    HandlerType.PROPERTY: "该问题不在物业服务合同范围内，请改派。",
    HandlerType.STREET: "经核实属区级部门职责，请改派。",
    HandlerType.DEPARTMENT: "经现场核实不属本单位职责，请街道协调处置。",
    HandlerType.UTILITY: "经核实不属本公司产权设施，请改派。",
}
REJECT_NOTES = (
    "重复诉求，已有工单在办理。",
    "不属于本街道管辖范围，已告知诉求人向属地反映。",
    "咨询类诉求，已当场答复。",
    "诉求人表示问题已自行解决。",
    "诉求内容不明确，多次联系诉求人未果。",
)
EXTENSION_NOTES = (
    "需协调多个产权单位，申请延期。",
    "需采购材料、排期施工，申请延期。",
    "涉及执法程序，需履行告知期限，申请延期。",
)
REWORK_NOTES = ("现场核查问题未彻底解决，请继续处置。", "仍有残留，需返工。")
VERIFY_NOTES = ("现场核查，问题已解决。", "经核实已整改到位。", "")
PART_NOTES = (
    "已派执法人员到场，依法责令当事人限期整改。",
    "已安排专业人员到场配合处置。",
    "已出具处理意见并跟踪落实。",
)


# --- Who acts ------------------------------------------------------------------------------
Who = tuple[int, str]  # (user id, username)


@dataclass
class People:
    """The generated staff by role and node, from their grants (demo logins included)."""

    street: list[Who] = field(default_factory=list)
    leaders: list[Who] = field(default_factory=list)
    workstation: dict[str, list[Who]] = field(default_factory=lambda: defaultdict(list))
    gridworkers: dict[str, list[Who]] = field(default_factory=lambda: defaultdict(list))
    departments: dict[int, list[Who]] = field(default_factory=lambda: defaultdict(list))
    resident: Who | None = None

    @classmethod
    def load(cls) -> People:
        people = cls()
        grants = RoleGrant.objects.filter(revoked_at__isnull=True).order_by("user__username")
        for user_id, username, role, community, grid, department in grants.values_list(
            "user_id", "user__username", "role", "community__code", "grid__code", "department_id"
        ):
            who = (user_id, username)
            if role == Role.STREET_STAFF:
                people.street.append(who)
            elif role == Role.STREET_LEADER:
                people.leaders.append(who)
            elif role == Role.WORKSTATION_STAFF and community:
                people.workstation[community].append(who)
            elif role == Role.GRID_WORKER and grid:
                people.gridworkers[grid].append(who)
            elif role == Role.DEPARTMENT_STAFF and department:
                people.departments[department].append(who)
            elif role == Role.RESIDENT and username == "resident":
                people.resident = who
        return people


SYSTEM: tuple[None, str] = (None, "system")


# --- The walk ------------------------------------------------------------------------------
class _Stopped(Exception):
    """The next step lies after now (or is where a showcase case should wait)."""


@dataclass(frozen=True)
class Outcome:
    """What will happen to a case, drawn before its walk; the walk stops at "now"."""

    caller: bool = True
    reject: bool = False
    merge_into: Case | None = None
    returns: int = 0
    return_after_ack: bool = False
    extension: str = ""  # "approved" or "denied"
    rework: bool = False
    rating: str = ""  # "" = the caller is never reached
    reopen: bool = False
    summon: tuple[str, ...] = ()  # department code suffixes
    summon_late: bool = False
    summon_waiting: bool = False  # the department has not reported yet
    ack_late: bool = False
    contact_late: bool = False


@dataclass
class Event:
    case: Case
    action: str
    from_node: str
    to_node: str
    who: tuple[int | None, str]
    at: datetime
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Walk:
    """Moves one case through the table with computed times. ``halt_before`` makes the case
    wait before that action whatever the time (showcases); ``fast`` spaces steps minutes apart."""

    def __init__(
        self,
        history: CaseHistory,
        case: Case,
        outcome: Outcome,
        halt_before: str | None = None,
        fast: bool = False,
    ) -> None:
        self.h, self.case, self.o = history, case, outcome
        self.halt_before, self.fast = halt_before, fast
        self.rng = history.rng
        self.t = case.created_at
        self.desk = self.rng.choice(history.people.street)
        self.handler_who: tuple[int | None, str] = SYSTEM
        self.closes: list[datetime] = []
        self.final_at: datetime | None = None

    # time ------------------------------------------------------------------------------
    def later(self, low: float, high: float, daytime: bool = True) -> datetime:
        """``low``–``high`` minutes after the last step; staff steps move into 08:00–20:00
        unless the case is urgent (then someone is on duty)."""
        if self.fast:
            return self.t + timedelta(minutes=self.rng.uniform(3, 12))
        at = self.t + timedelta(minutes=self.rng.uniform(low, high))
        return at if self.case.urgent or not daytime else self.h.daytime(at)

    def after_hours(self, hours: float) -> datetime:
        if self.fast:
            return self.later(0, 0)
        return self.h.daytime(self.t + timedelta(hours=hours))

    # steps -----------------------------------------------------------------------------
    def act(
        self, action: str, at: datetime, who: tuple[int | None, str], note: str = "", **data: Any
    ) -> None:
        if action == self.halt_before or at > self.h.now:
            raise _Stopped
        case = self.case
        step = TABLE[(case.node, action)]  # KeyError: the generator broke the table's rules
        from_node = case.node
        OWN_EFFECTS.get(action, _services_effect)(self, action, at, note, data)
        case.node = step.to
        self.h.events.append(Event(case, action, from_node, step.to, who, at, note, data))
        self.t = at

    def live(self) -> None:
        with suppress(_Stopped):
            self._live()

    def _live(self) -> None:
        o = self.o
        self.h.events.append(
            Event(self.case, "submit", "", Node.RECEIVED, self.h.submitter(self.case), self.t,
                  data={"channel": self.case.channel})
        )  # fmt: skip
        if o.reject:
            self.act(Action.REJECT, self.later(10, 240), self.desk, self.rng.choice(REJECT_NOTES))
            self.final_at = self.t
            return
        if o.merge_into is not None:
            self.merge(o.merge_into)
            return
        self.act(Action.REGISTER, self.later(5, 90), self.desk)
        for cycle in (1, 2):
            self.handle(first=cycle == 1)
            rating = self.close_and_call_back(first=cycle == 1)
            if cycle == 2 or not (o.reopen and rating == Rating.DISSATISFIED):
                break
            self.act(Action.REOPEN, self.later(60, 1440), self.desk, "回访不满意，重新办理。")

    def merge(self, target: Case) -> None:
        self.act(Action.MERGE, self.later(10, 180), self.desk, "与同一问题的工单合并处理。",
                 into=target)  # fmt: skip
        self.final_at = self.t
        self.h.followers.append((self.case, target))
        # Merged cases are answered when the case they joined closes (services._close_followers).
        for closed_at in self.h.closes_of(target):
            if closed_at > self.t:
                self.h.events.append(
                    Event(self.case, "close_with", Node.MERGED, Node.MERGED, SYSTEM, closed_at,
                          data={"case": target})
                )  # fmt: skip
                self.case.closed_at = closed_at

    def handle(self, first: bool) -> None:
        o, rng = self.o, self.rng
        returns, handler = (o.returns if first else 0), None
        while True:
            self.act(Action.DISPATCH, self.later(10, 120), self.desk, **(handler or {}))
            self.handler_who = self.h.handler_staff(self.case)
            if not returns:
                break
            if o.return_after_ack:
                self.act(Action.ACKNOWLEDGE, self.later(5, 60, daytime=False), self.handler_who)
            handler_type = HandlerType(self.case.handler_type)
            self.act(Action.RETURN, self.later(30, 480), self.handler_who,
                     RETURN_NOTES[handler_type])  # fmt: skip
            returns -= 1
            handler = self.h.alternative_handler(self.case, handler_type)
        self.act(Action.ACKNOWLEDGE, self.acknowledge_time(), self.handler_who)
        self.act(Action.START, self.later(10, 240), self.handler_who)
        if first and o.caller:
            self.act(Action.CONTACT, self.contact_time(), self.handler_who)
        if first and o.summon:
            self.h.summon(self, o.summon)
        if first and o.extension:
            self.act(Action.REQUEST_EXTENSION, self.after_hours(rng.uniform(12, 60)),
                     self.handler_who, rng.choice(EXTENSION_NOTES))  # fmt: skip
            approve = o.extension == "approved"
            self.act(
                Action.APPROVE_EXTENSION if approve else Action.DENY_EXTENSION,
                self.later(60, 600),
                rng.choice(self.h.people.leaders),
                "同意延期。" if approve else "不同意延期，请按期办结。",
            )
        self.act(Action.FINISH, self.finish_time(), self.handler_who, self.finish_note())
        verifier = self.h.verifier(self.case)
        if first and o.rework:
            self.act(Action.REWORK, self.later(60, 1440), verifier, rng.choice(REWORK_NOTES))
            self.act(Action.FINISH, self.later(240, 2880), self.handler_who, self.finish_note())
        self.act(Action.VERIFY, self.later(60, 1440), verifier, rng.choice(VERIFY_NOTES))

    def close_and_call_back(self, first: bool) -> str:
        self.act(Action.CLOSE, self.later(30, 360), self.desk)
        self.final_at = self.t
        self.closes.append(self.t)
        if not self.o.caller or not self.o.rating:
            return ""
        rating = self.o.rating if first else _pick(self.rng, RATINGS_AFTER_REOPEN)
        data: dict[str, Any] = {"rating": rating}
        if rating == Rating.MOSTLY_SATISFIED and self.rng.random() < NOT_SOLVED_BUT_MOSTLY:
            data["solved"] = False
        self.act(Action.CALLBACK, self.later(120, 2880), self.h.caller_back(self.case), **data)
        return rating

    def finish_note(self) -> str:
        return self.rng.choice(FINISH_NOTES[HandlerType(self.case.handler_type)])

    def acknowledge_time(self) -> datetime:
        if self.fast:
            return self.later(0, 0)
        case = self.case
        assert case.acknowledge_due is not None and case.dispatched_at is not None
        if self.o.ack_late:
            return case.acknowledge_due + timedelta(minutes=self.rng.uniform(10, 240))
        window = (case.acknowledge_due - case.dispatched_at).total_seconds()
        return case.dispatched_at + timedelta(seconds=window * self.rng.uniform(0.05, 0.9))

    def contact_time(self) -> datetime:
        if self.fast:
            return self.later(0, 0)
        assert self.case.registered_at is not None
        hours = self.rng.uniform(25, 50) if self.o.contact_late else self.rng.uniform(0.5, 20)
        target = self.case.registered_at + timedelta(hours=hours)
        return max(self.t + timedelta(minutes=self.rng.uniform(5, 30)), target)

    def finish_time(self) -> datetime:
        if self.fast:
            return self.later(0, 0)
        case = self.case
        median = URGENT_HANDLING_HOURS if case.urgent else HANDLING_HOURS[case.handler_type]
        hours = median * math.exp(self.rng.gauss(0, 0.8))
        if self.o.extension == "approved":
            hours += self.rng.uniform(5, 14) * 24
        at = max(self.t, self.h.parts_done.get(id(case), self.t)) + timedelta(hours=hours)
        return at if case.urgent else self.h.daytime(at)


# What the steps that read the clock do, with the step's own time. Everything else is the
# services' own effect (services.EFFECTS), which reads no clock.
def _register(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    walk.h.start_the_clock(walk.case, at)


def _reopen(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    services.EFFECTS[action](walk.case, note, data)  # counts, clears, checks the rating
    walk.h.start_the_clock(walk.case, at)  # … and the clocks start at the step's time


def _dispatch(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    case = walk.case
    if "handler_type" in data:
        handler_type, department = data["handler_type"], data.get("department")
    else:
        handler_type, department = walk.h.route(case)
    organisation = walk.h.property_company(case) if handler_type == HandlerType.PROPERTY else None
    services._set_handler(case, HandlerType(handler_type), department, organisation)
    services.start_acknowledge_clock(case, at)
    data.update(
        handler_type=case.handler_type,
        department=case.handler_department_id,
        unit_code=case.handler_unit_code,
    )


Effect = Callable[["Walk", str, datetime, str, dict], None]


def _stamp(attribute: str) -> Effect:
    def effect(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
        setattr(walk.case, attribute, at)

    return effect


def _contact(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    if walk.case.contacted_at is None:
        walk.case.contacted_at = at


def _close(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    walk.case.closed_at = at
    services._clear_handler(walk.case)


def _merge(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    return None  # merged_into is written once both rows have their ids (see CaseHistory.write)


def _services_effect(walk: Walk, action: str, at: datetime, note: str, data: dict) -> None:
    services.EFFECTS[action](walk.case, note, data)


OWN_EFFECTS: dict[str, Effect] = {
    Action.REGISTER: _register,
    Action.REOPEN: _reopen,
    Action.DISPATCH: _dispatch,
    Action.ACKNOWLEDGE: _stamp("acknowledged_at"),
    Action.FINISH: _stamp("handled_at"),
    Action.VERIFY: _stamp("verified_at"),
    Action.CLOSE: _close,
    Action.CONTACT: _contact,
    Action.MERGE: _merge,
}


# --- Showcases: work in every demo sign-in's inbox ------------------------------------------
@dataclass(frozen=True)
class Showcase:
    code: str  # 小类
    halt_before: str | None  # the case waits before this action
    age_hours: float = 3  # received this long before now (ignored with due_today)
    channel: str = Channel.HOTLINE
    resident: bool = False  # reported by the ``resident`` sign-in
    outcome: Outcome = field(default_factory=Outcome)
    due_today: bool = False  # received so that the resolve deadline ends today (or next)
    duplicate: bool = False  # merged into the showcase case before it


SHOWCASES: tuple[Showcase, ...] = (
    # The street's desk, the first grid's worker and the first community's workstation.
    Showcase("S0101", Action.REGISTER, 0.3, Channel.PATROL, outcome=Outcome(caller=False)),
    Showcase("M0701", Action.DISPATCH, 1.5),
    Showcase("M0701", None, 1.0, duplicate=True),  # merged into the one above
    Showcase("S0104", Action.ACKNOWLEDGE, 1.0, Channel.PATROL, outcome=Outcome(caller=False)),
    Showcase("M0703", Action.START, 3),  # property company: the workstation answers for it
    Showcase("S0105", Action.FINISH, 30, Channel.PATROL, outcome=Outcome(caller=False)),
    Showcase("M0603", Action.FINISH, 9 * 24),  # overdue
    Showcase("M1301", Action.FINISH, due_today=True),  # nearly due
    Showcase("M0901", Action.APPROVE_EXTENSION, 4 * 24, outcome=Outcome(extension="approved")),
    Showcase("M0701", Action.VERIFY, 20),
    Showcase("S0101", Action.CLOSE, 26, Channel.PATROL, outcome=Outcome(caller=False)),
    Showcase("M0801", Action.CALLBACK, 50, outcome=Outcome(rating=Rating.SATISFIED)),
    # The first department (区城管委) and the street as handler.
    Showcase("S0201", Action.ACKNOWLEDGE, 1.0),
    Showcase("S0202", Action.ACKNOWLEDGE, 5),  # not acknowledged in time
    Showcase("S0203", Action.START, 4),
    Showcase("M1001", Action.FINISH, 10 * 24, outcome=Outcome(summon=("ZJW",))),
    Showcase("M1003", Action.FINISH, 5, outcome=Outcome(summon=("CGW",), summon_waiting=True)),
    Showcase("M0602", Action.FINISH, 30, outcome=Outcome(summon=("CGW",), summon_late=True)),
    Showcase("B0301", Action.START, 3, Channel.PATROL, outcome=Outcome(caller=False)),
    # The resident's own reports.
    Showcase("M0903", Action.DISPATCH, 2, Channel.WEB, resident=True),
    Showcase("M0704", Action.FINISH, 28, Channel.WEB, resident=True),
    Showcase("M0901", Action.VERIFY, 40, Channel.WEB, resident=True),
    Showcase("M0904", None, 9 * 24, Channel.WEB, True, Outcome(rating=Rating.SATISFIED)),
    Showcase("M0702", Action.CALLBACK, 60, Channel.WEB, True, Outcome(rating=Rating.SATISFIED)),
)


# --- The generator ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SubCategory:
    category: Category
    family: str  # "urban" (B/S) or "civic" (M)
    at_home: bool
    monthly: tuple[float, ...]


class CaseHistory:
    def __init__(self, builder: WorldBuilder, now: datetime) -> None:
        self.builder, self.now = builder, now
        self.rng = random.Random(f"{builder.plan.seed}:cases")
        self.names = NameMaker(self.rng)
        self.people = People.load()
        self.departments = {d.code.rsplit("-", 1)[-1]: d for d in builder.departments}
        self.subs = self._subs()
        self.sites = {s.grid.code: s for s in builder.sites}
        self.homes = self._homes()
        self.companies = self._companies()
        self.grid_weights = self._grid_weights()
        self.routes: dict[tuple[int, frozenset[str]], tuple[str, Department | None]] = {}
        self.rule_territories = {
            codes.scope_prefix(code) if code else ""
            for code in RoutingRule.objects.values_list("territory_code", flat=True)
        }
        self.events: list[Event] = []
        self.cases: list[Case] = []
        self.summonses: list[Summons] = []
        self.followers: list[tuple[Case, Case]] = []
        self.parts_done: dict[int, datetime] = {}
        self._closes: dict[int, list[datetime]] = {}
        self._recent: dict[tuple[int, str], list[tuple[Case, Walk]]] = defaultdict(list)
        self._sequence = itertools.count(1)
        self.calendar = calendar_for_code(builder.street.code)
        self.deadlines: dict[tuple[date, int], Deadline] = {}
        self._reporter_names = {
            who[0]: who
            for who in itertools.chain(self.people.street, *self.people.gridworkers.values())
        }

    # --- lookups ----------------------------------------------------------------------------
    def _subs(self) -> list[SubCategory]:
        subs = []
        for category in Category.objects.filter(parent__isnull=False, active=True).order_by("code"):
            if category.code not in TEMPLATES:
                continue  # a street's own 小类: no texts to describe it with
            monthly = SEASONS.get(category.code, (1.0,) * 12)
            weight = VOLUME.get(category.code, 1.0)
            at_home = category.code.startswith(AT_HOME)
            family = "civic" if category.code.startswith("M") else "urban"
            subs.append(SubCategory(category, family, at_home, tuple(weight * m for m in monthly)))
        return subs

    def _homes(self) -> dict[int, list[tuple[str, int, float, float]]]:
        homes: dict[int, list[tuple[str, int, float, float]]] = defaultdict(list)
        rows = Building.objects.filter(use=Building.Use.RESIDENTIAL).order_by("pk")
        for grid_id, name, address_id, lng, lat in rows.values_list(
            "grid_id", "name", "address_id", "lng", "lat"
        ):
            homes[grid_id].append((name, address_id, lng, lat))
        return homes

    def _companies(self) -> dict[str, Organisation]:
        companies: dict[str, Organisation] = {}
        rows = Organisation.objects.filter(kind=Organisation.Kind.PROPERTY_MANAGEMENT)
        for company in rows.order_by("pk"):
            companies.setdefault(company.territory_code[:12], company)
        return companies

    def _grid_weights(self) -> dict[str, tuple[list[GridSite], list[float]]]:
        """Cumulative weights per family: residents' requests follow the population, components
        and events the population plus a flat share (roads and squares are everywhere)."""
        population = dict(
            Person.objects.values_list("territory_code").annotate(n=Count("pk")).order_by()
        )
        sites = [self.sites[code] for code in sorted(self.sites)]
        people = [population.get(s.grid.code, 0) for s in sites]
        mean = sum(people) / max(1, len(people))
        civic = list(itertools.accumulate(p + 0.05 * mean for p in people))
        urban = list(itertools.accumulate(p + mean for p in people))
        return {"civic": (sites, civic), "urban": (sites, urban)}

    def start_the_clock(self, case: Case, at: datetime) -> None:
        """services._start_the_clock with the step's time and one calendar snapshot for the
        whole run (the services read the calendar's generation on every call; nothing changes
        it while the world is written)."""
        services.start_the_clock(case, at, self.count_days)

    def count_days(self, at: datetime, days: int) -> Deadline:
        key = (local_date(at), days)  # the deadline depends on the day only: count once per day
        if (deadline := self.deadlines.get(key)) is None:
            deadline = self.deadlines[key] = add_working_days(at, days, self.calendar)
        return deadline

    def route(self, case: Case) -> tuple[str, Department | None]:
        # resolve_route depends on the grid only through the rules whose territory covers it.
        covering = frozenset(t for t in self.rule_territories if case.territory_code.startswith(t))
        key = (case.category_id, covering)
        if key not in self.routes:
            found = routing.resolve_route(case.category, case.territory_code)
            department = found.department
            if found.handler_type in DEPARTMENT_HANDLERS and department is None:
                department = self.departments["CGW"]  # the dispatcher's choice (no rule)
            self.routes[key] = (found.handler_type, department)
        return self.routes[key]

    def property_company(self, case: Case) -> Organisation | None:
        return self.companies.get(case.territory_code[:12])

    def alternative_handler(self, case: Case, returned_by: str) -> dict[str, Any]:
        """After a return the desk sends the case elsewhere: the street takes what a community,
        property company or department gave back; a department gets what the street gave back."""
        if returned_by != HandlerType.STREET:
            return {"handler_type": HandlerType.STREET}
        wanted = SUMMONED.get(case.category.code, ("CGW",))[0]
        return {"handler_type": HandlerType.DEPARTMENT, "department": self.departments[wanted]}

    def handler_staff(self, case: Case) -> tuple[int | None, str]:
        if case.handler_type in DEPARTMENT_HANDLERS:
            pool = self.people.departments.get(case.handler_department_id or 0)
        elif case.handler_type == HandlerType.STREET:
            pool = self.people.street
        else:
            pool = self.people.workstation.get(case.handler_unit_code)
        return self.rng.choice(pool) if pool else SYSTEM

    def verifier(self, case: Case) -> tuple[int | None, str]:
        pool = self.people.gridworkers.get(case.territory_code)
        if pool and self.rng.random() < 0.85:
            return self.rng.choice(pool)
        return self.rng.choice(self.people.street)

    def caller_back(self, case: Case) -> tuple[int | None, str]:
        pool = (
            self.people.gridworkers.get(case.territory_code)
            if self.rng.random() < 0.5
            else self.people.workstation.get(case.community_code)
        )
        return self.rng.choice(pool) if pool else self.rng.choice(self.people.street)

    def submitter(self, case: Case) -> tuple[int | None, str]:
        if case.reporter_id is None:
            return SYSTEM
        if self.people.resident and case.reporter_id == self.people.resident[0]:
            return self.people.resident
        return self._reporter_names[case.reporter_id]

    def closes_of(self, case: Case) -> list[datetime]:
        return self._closes.get(id(case), [])

    def daytime(self, at: datetime) -> datetime:
        """Office steps happen 08:00–20:00 Beijing time; later ones wait for the morning."""
        local = at.astimezone(SHANGHAI)
        if 8 <= local.hour < 20:
            return at
        morning = datetime.combine(local.date(), time(8), tzinfo=SHANGHAI)
        if local.hour >= 20:
            morning += timedelta(days=1)
        return morning + timedelta(minutes=self.rng.uniform(0, 50))

    # --- intake -----------------------------------------------------------------------------
    def generate(self) -> None:
        for spec in self._intake():
            self._one(*spec)
        for showcase in SHOWCASES:
            self._showcase(showcase)

    def _intake(self) -> Iterator[tuple[datetime, SubCategory, GridSite, str]]:
        """(received at, 小类, grid, channel) for every case of the year, in time order."""
        today = self.now.astimezone(SHANGHAI).date()
        days = [today - timedelta(days=k) for k in range(DAYS - 1, -1, -1)]
        weights = [self._day_weight(day) for day in days]
        total = round(CASES_PER_YEAR * self.builder.plan.scale)
        scale = total / sum(weights)
        monthly = [list(itertools.accumulate(s.monthly[m] for s in self.subs)) for m in range(12)]
        for day, weight in zip(days, weights, strict=True):
            expected = weight * scale
            count = int(expected) + (self.rng.random() < expected - int(expected))
            month = monthly[day.month - 1]
            specs = []
            for _ in range(count):
                sub = self.rng.choices(self.subs, cum_weights=month)[0]
                channel = self._channel(sub, day)
                specs.append((self._moment(day, channel), sub, self._grid(sub), channel))
            for spec in sorted(specs, key=lambda s: s[0]):
                if spec[0] <= self.now:
                    yield spec

    def _day_weight(self, day: date) -> float:
        factor = WEEKDAY_FACTOR[day.weekday()]
        if day.weekday() < 5 and not is_working_day(day, self.calendar):
            factor = HOLIDAY_FACTOR
        return factor * sum(s.monthly[day.month - 1] for s in self.subs)

    def _channel(self, sub: SubCategory, day: date) -> str:
        channel = _pick(self.rng, CHANNELS[sub.family])
        if channel in (Channel.SERVICE_CENTRE, Channel.PATROL) and not is_working_day(
            day, self.calendar
        ):
            return Channel.HOTLINE  # the service centre is closed, patrols are thin
        return channel

    def _moment(self, day: date, channel: str) -> datetime:
        hour = self.rng.choices(range(24), HOURS[channel])[0]
        start = datetime.combine(day, time(hour), tzinfo=SHANGHAI)
        return start + timedelta(seconds=self.rng.randrange(3600))

    def _grid(self, sub: SubCategory) -> GridSite:
        sites, cumulative = self.grid_weights[sub.family]
        point = self.rng.random() * cumulative[-1]
        return sites[min(bisect.bisect_right(cumulative, point), len(sites) - 1)]

    # --- one case ---------------------------------------------------------------------------
    def _one(self, at: datetime, sub: SubCategory, site: GridSite, channel: str) -> None:
        code = sub.category.code
        urgent = self.rng.random() < (0.45 if code in HAZARDS else URGENT_SHARE)
        case = self._case(at, sub, site, channel, urgent)
        walk = Walk(self, case, self._outcome(case, channel))
        self._walk(walk)
        self._recent[(case.category_id, case.community_code)].append((case, walk))

    def _outcome(self, case: Case, channel: str) -> Outcome:
        rng = self.rng
        caller = channel not in (Channel.PATROL, Channel.API)
        if rng.random() < REJECT_SHARE["caller" if caller else "patrol"]:
            return Outcome(caller=caller, reject=True)
        if rng.random() < MERGE_SHARE and (target := self._merge_target(case)) is not None:
            return Outcome(caller=caller, merge_into=target)
        returns = 0
        if rng.random() < RETURN_SHARE:
            returns = 2 if rng.random() < RETURN_TWICE_SHARE else 1
        extension = ""
        if rng.random() < EXTENSION_SHARE:
            extension = "approved" if rng.random() < EXTENSION_APPROVED else "denied"
        rating = _pick(rng, RATINGS) if caller and rng.random() < RATED_SHARE else ""
        summon: tuple[str, ...] = ()
        if case.category.code in SUMMONED and rng.random() < SUMMON_SHARE:
            choices = SUMMONED[case.category.code]
            summon = choices[: rng.randint(1, len(choices))]
        return Outcome(
            caller=caller,
            returns=returns,
            return_after_ack=rng.random() < 0.3,
            extension=extension,
            rework=rng.random() < REWORK_SHARE,
            rating=rating,
            reopen=rng.random() < REOPEN_SHARE,
            summon=summon,
            summon_late=rng.random() < 0.15,
            ack_late=rng.random() < ACK_LATE_SHARE,
            contact_late=rng.random() < CONTACT_LATE_SHARE,
        )

    def _merge_target(self, case: Case) -> Case | None:
        """An earlier case of the same category and community, under 72 hours old and still
        open now (services._merge: only into an open case of the same street)."""
        recent = self._recent.get((case.category_id, case.community_code), [])
        # The merge itself may wait for the morning: the target must stay open a day longer.
        margin = case.created_at + timedelta(hours=24)
        for target, walk in reversed(recent[-5:]):
            young = case.created_at - target.created_at < timedelta(hours=72)
            first_close = walk.closes[0] if walk.closes else None
            open_then = first_close is None or first_close > margin
            if young and open_then and target.node not in (Node.REJECTED, Node.MERGED):
                return target
        return None

    def _case(
        self, at: datetime, sub: SubCategory, site: GridSite, channel: str, urgent: bool
    ) -> Case:
        rng, category = self.rng, sub.category
        answers = _answers(category.code, rng, at)
        place, road, address_id, lng, lat = self._place(sub, site)
        body = rng.choice(TEMPLATES[category.code]).format(
            place=place,
            road=road,
            n=rng.randint(2, 9),
            temp=answers.get("indoor_temperature", ""),
            when=WHEN.get(str(answers.get("time_of_day", "")), "经常"),
        )
        caller = channel not in (Channel.PATROL, Channel.API)
        closing = rng.choice(CLOSINGS["caller" if caller else "patrol"])
        anonymous = caller and rng.random() < ANONYMOUS_SHARE
        reporter = self._reporter(site, channel)
        source = SOURCE_SYSTEMS.get(channel, "")
        case = Case(
            channel=channel,
            category=category,
            description=f"{rng.choice(OPENINGS[channel])}{body}{closing}",
            urgent=urgent,
            grid=site.grid,
            lng=lng,
            lat=lat,
            address_id=address_id,
            caller_name="" if anonymous or not caller else self._name(),
            caller_phone=_phone(rng) if caller else "",
            anonymous=anonymous,
            reporter_id=reporter,
            source_system=source,
            external_id=f"{at.astimezone(SHANGHAI):%Y%m%d}{next(self._sequence):05d}"
            if source
            else "",
            attributes=answers,
            node=Node.RECEIVED,
        )
        case.created_at = at
        case.territory_code = site.grid.code  # what Case.save() derives
        case.community_code = site.grid.code[:12]
        case.street_code = site.grid.code[:9] + "000"
        return case

    def _name(self) -> str:
        return self.names.full(self.rng.choice("MF"), self.rng.randint(1945, 2002))

    def _reporter(self, site: GridSite, channel: str) -> int | None:
        """Who submitted it (services: the reporter is the submitting user): the grid worker on
        patrol, the desk at the service centre; 12345 and other systems arrive as the system."""
        if channel == Channel.PATROL:
            pool = self.people.gridworkers.get(site.grid.code) or self.people.street
            return self.rng.choice(pool)[0]
        if channel == Channel.SERVICE_CENTRE:
            return self.rng.choice(self.people.street)[0]
        return None

    def _place(self, sub: SubCategory, site: GridSite) -> tuple[str, str, int | None, float, float]:
        """(place in words, road, standard address id, lng, lat)."""
        rng, road = self.rng, self.rng.choice(site.roads)
        homes = self.homes.get(site.grid.pk)
        if sub.at_home and homes:
            name, address_id, lng, lat = rng.choice(homes)
            unit = f"{rng.randint(1, 3)}单元" if rng.random() < 0.4 else ""
            return f"{name}{unit}", road, address_id, lng, lat
        lng, lat = geo.point_in_cell(site.quad, site.cell, rng)
        other = rng.choice([r for r in site.roads if r != road] or [road])
        place = rng.choice(
            (
                f"{road}{rng.randint(1, 180)}号附近",
                f"{road}与{other}交叉口",
                f"{site.stem}社区{road}沿线",
                f"{road}{site.stem}段",
            )
        )
        return place, road, None, lng, lat

    # --- showcases --------------------------------------------------------------------------
    def _showcase(self, showcase: Showcase) -> None:
        site = self.builder.sites[0]
        sub = next((s for s in self.subs if s.category.code == showcase.code), None)
        if sub is None:
            return  # the street removed that 小类
        at = self._due_today_start(sub) if showcase.due_today else None
        at = at or self.now - timedelta(hours=showcase.age_hours)
        case = self._case(at, sub, site, showcase.channel, urgent=False)
        outcome = replace(showcase.outcome, caller=showcase.channel != Channel.PATROL)
        if showcase.duplicate:  # another caller about the same spot
            target = self.cases[-1]
            outcome = replace(outcome, merge_into=target)
            case.lng, case.lat, case.address_id = target.lng, target.lat, target.address_id
        if showcase.resident and self.people.resident is not None:
            case.reporter_id = self.people.resident[0]
            case.caller_name, case.anonymous = "王秀兰", False
        self._walk(Walk(self, case, outcome, showcase.halt_before, fast=True))

    def _due_today_start(self, sub: SubCategory) -> datetime | None:
        """A morning some days back from which the resolve deadline ends at the next 24:00
        that is still ahead (today's, or the next working day's)."""
        calendar = calendar_for_code(self.builder.sites[0].grid.code)
        today = self.now.astimezone(SHANGHAI).date()
        best: tuple[timedelta, datetime] | None = None
        for back in range(1, 15):
            start = datetime.combine(today - timedelta(days=back), time(10), tzinfo=SHANGHAI)
            due = add_working_days(start, sub.category.deadline_days, calendar).due_at
            if due > self.now and (best is None or due - self.now < best[0]):
                best = (due - self.now, start)
        return best[1] if best else None

    # --- walking and summoning --------------------------------------------------------------
    def _walk(self, walk: Walk) -> None:
        walk.live()
        self._closes[id(walk.case)] = walk.closes
        self.cases.append(walk.case)

    def summon(self, walk: Walk, suffixes: tuple[str, ...]) -> None:
        """吹哨: the street calls departments in; each reports (报到) and records its part."""
        case, rng, o = walk.case, self.rng, walk.o
        summoned_at = walk.later(60, 720)
        if summoned_at > self.now:
            return
        latest = summoned_at
        for suffix in suffixes:
            department = self.departments[suffix]
            if department.pk == case.handler_department_id:
                continue
            report_due, part_due = summons.default_deadlines(case, summoned_at, self.count_days)
            if o.summon_late:
                reported = report_due + timedelta(minutes=rng.uniform(20, 600))
            else:
                reported = summoned_at + timedelta(minutes=rng.uniform(10, 110))
            if o.summon_waiting or reported > self.now:
                reported_at, reported_by, part, part_at = None, None, "", None
            else:
                reported_at = reported
                reported_by = self._department_staff(department)
                part_at = reported + timedelta(hours=rng.uniform(2, 60))
                if part_at > self.now:
                    part, part_at = "", None
                else:
                    part = rng.choice(PART_NOTES)
                    latest = max(latest, part_at)
            self.summonses.append(
                Summons(
                    case=case,
                    department=department,
                    reason=f"需{department.name}依职权参与联合处置。",
                    summoned_by_id=walk.desk[0],
                    summoned_at=summoned_at,
                    report_due=report_due,
                    part_due=part_due,
                    reported_at=reported_at,
                    reported_by_id=reported_by,
                    part=part,
                    part_recorded_at=part_at,
                    territory_code=case.territory_code,
                )
            )
        self.parts_done[id(case)] = latest

    def _department_staff(self, department: Department) -> int | None:
        pool = self.people.departments.get(department.pk)
        return self.rng.choice(pool)[0] if pool else None

    # --- writing ----------------------------------------------------------------------------
    def write(self) -> None:
        """Cases get their ids here (so events, summonses and merges can point at them), then
        every table is written with plain multi-row INSERTs (see ``insert_rows``)."""
        first = (Case.all_objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        for pk, case in enumerate(self.cases, start=first):
            case.pk = pk
            _derive(case)
        for follower, target in self.followers:
            follower.merged_into_id = target.pk
        insert_objects(Case, self.cases, with_pk=True)
        insert_rows(CaseEvent, EVENT_COLUMNS, [_event_row(e) for e in self.events])
        insert_objects(Summons, self.summonses)
        reset_sequences(Case)
        for model, rows in (
            (Case, self.cases),
            (CaseEvent, self.events),
            (Summons, self.summonses),
        ):
            self.builder.counts.add(model._meta.model_name or "", len(rows))


EVENT_COLUMNS = (
    "case",
    "action",
    "from_node",
    "to_node",
    "actor",
    "actor_label",
    "at",
    "note",
    "data",
    "territory_code",
)


def _event_row(event: Event) -> tuple[Any, ...]:
    actor_id, label = event.who
    return (
        event.case.pk,
        event.action,
        event.from_node,
        event.to_node,
        actor_id,
        label,
        event.at,
        event.note,
        services._event_data(event.data),  # objects become their ids, as the services do
        event.case.territory_code,
    )


def insert_objects(model: type[Model], objects: list[Any], with_pk: bool = False) -> None:
    """Insert unsaved instances with ``insert_rows``. A foreign key assigned as an object
    before that object had its id is read from the object now (as bulk_create does)."""
    fields = [cast(Field, f) for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    names = tuple(f.name for f in fields)
    relations = [(i, cast(ForeignKey, f)) for i, f in enumerate(fields) if f.is_relation]
    rows = []
    for obj in objects:
        row = [getattr(obj, f.attname) for f in fields]
        for i, relation in relations:
            if row[i] is None and relation.is_cached(obj):
                related = relation.get_cached_value(obj)
                row[i] = related.pk if related is not None else None
        rows.append(tuple(row))
    insert_rows(model, names, rows)


def insert_rows(model: type[Model], names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Plain multi-row INSERTs. bulk_create would build and prepare every field of every one of
    the ~90,000 rows through the model layer and take most of the generator's time. Here only
    the values the database driver cannot take as they are go through the backend's own
    adapters (aware times, JSON) or are encrypted (personal data); the rest are strings, numbers, booleans, ids and NULLs.
    No ``save()``, signals or ``auto_now_add``: the callers fill every derived field."""
    fields = [cast(Field, model._meta.get_field(name)) for name in names]
    ops = connection.ops
    adapters: dict[int, Callable[[Any], Any]] = {}
    for i, f in enumerate(fields):
        kind = f.get_internal_type()
        if isinstance(f, EncryptedTextField):  # what get_prep_value would store
            adapters[i] = encrypt
        elif kind == "DateTimeField":
            adapters[i] = ops.adapt_datetimefield_value
        elif kind == "JSONField":
            adapters[i] = _json_adapter(getattr(f, "encoder", None))
    columns = ", ".join(ops.quote_name(str(f.column)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Table and column names come from the model's metadata, never from input.
    sql = f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    prepared = []
    for row in rows:
        values = list(row)
        for i, adapt in adapters.items():
            if values[i] is not None:
                values[i] = adapt(values[i])
        prepared.append(values)
    with connection.cursor() as cursor:
        for start in range(0, len(prepared), INSERT_BATCH):
            cursor.executemany(sql, prepared[start : start + INSERT_BATCH])


def _json_adapter(encoder: Any) -> Callable[[Any], Any]:
    ops = connection.ops  # once: every access to ``connection`` goes through a context-local
    empty = ops.adapt_json_value({}, encoder)  # most events carry no data

    def adapt(value: Any) -> Any:
        return ops.adapt_json_value(value, encoder) if value else empty

    return adapt


def reset_sequences(*models: type[Model]) -> None:
    """After rows with explicit ids, move PostgreSQL's id sequences past them (as loaddata
    does); SQLite needs nothing. Never backwards: setval is not undone by a rollback, so a
    sequence moved back would hand out ids that rows of another transaction already hold."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            [sequence] = cursor.fetchone()
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
            last, called = cursor.fetchone()
            cursor.execute(f'SELECT max(id) FROM "{table}"')  # noqa: S608
            highest = max(cursor.fetchone()[0] or 0, last if called else 0)
            if highest:
                cursor.execute("SELECT setval(%s, %s, true)", [sequence, highest])


def _derive(case: Case) -> None:
    """The rest of what Case.save() derives (the codes are set when the case is made), and
    where delivery to the source system stands."""
    closed = case.node in (Node.CLOSED, Node.REJECTED) or (
        case.node == Node.MERGED and case.closed_at is not None
    )
    case.public_status = PublicStatus.CLOSED if closed else PublicStatus.OPEN
    case.caller_phone_index = blind_index("phone", case.caller_phone)
    if case.source_system:
        quiet = case.node in (Node.CLOSED, Node.REJECTED, Node.MERGED)
        case.delivery_state = DeliveryState.DELIVERED if quiet else DeliveryState.PENDING


def _answers(code: str, rng: random.Random, at: datetime) -> dict[str, Any]:
    """Answers to the category's Open311 questions (see catalogue.ATTRIBUTES)."""
    if code == "M0201":
        kind = rng.choices(("central", "building", "own"), (0.6, 0.35, 0.05))[0]
        return {"indoor_temperature": round(rng.uniform(11.5, 17.5), 1), "heating_kind": kind}
    if code in ("M0101", "M0301"):
        scope = rng.choices(("home", "building", "compound", "area"), (0.3, 0.35, 0.25, 0.1))[0]
        return {"affected_scope": scope}
    if code == "M0401":
        return {"smell_now": rng.choice(("yes", "no"))}
    if code == "B0403":
        return {"someone_trapped": "yes" if rng.random() < 0.1 else "no"}
    if code.startswith("M08"):
        weights = (0.1, 0.2, 0.3, 0.4) if code != "M0804" else (0.3, 0.05, 0.6, 0.05)
        answers: dict[str, Any] = {
            "time_of_day": rng.choices(("morning", "day", "evening", "night"), weights)[0]
        }
        if code == "M0801":
            answers["noise_source"] = rng.choice(("renovation", "neighbour", "pet", "other"))
        return answers
    return {}


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('35789')}{rng.randint(0, 9)}{rng.randrange(10**8):08d}"


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in shares], [w for _, w in shares])[0]


# --- Entry point -----------------------------------------------------------------------------
def add_routing_rules(builder: WorldBuilder) -> None:
    """The demo's rules (DEMO_ROUTES) for the district, and one community's own rule."""
    by_code = {c.code: c for c in Category.objects.all()}
    existing = set(RoutingRule.objects.values_list("category__code", "territory_code"))
    rules = []
    for code, (handler_type, suffix, note) in DEMO_ROUTES.items():
        if code in by_code and (code, builder.district.code) not in existing:
            department = next(
                (d for d in builder.departments if suffix and d.code.endswith(f"-{suffix}")), None
            )
            rules.append(
                RoutingRule(
                    category=by_code[code],
                    territory_code=builder.district.code,
                    handler_type=handler_type,
                    department=department,
                    note=note,
                )
            )
    community = builder.communities[0].code
    for code, (handler_type, note) in COMMUNITY_ROUTES.items():
        if code in by_code and (code, community) not in existing:
            rules.append(
                RoutingRule(
                    category=by_code[code],
                    territory_code=community,
                    handler_type=handler_type,
                    note=note,
                )
            )
    builder.bulk(RoutingRule, rules)


def add_case_history(builder: WorldBuilder, now: datetime | None = None) -> None:
    """Load the default catalogue, add the demo's routing rules and a year of cases up to
    ``now``. Runs inside the builder's transaction and ``unscoped()``."""
    created, _updated = load_default_catalogue(actor=staff.ACTOR)
    builder.counts.add("category", created)
    add_routing_rules(builder)
    started = clock.perf_counter()
    history = CaseHistory(builder, now or timezone.now())
    history.generate()
    walked = clock.perf_counter()
    history.write()
    builder.progress(
        f"cases: {len(history.cases)}, events: {len(history.events)} "
        f"(walked in {walked - started:.1f} s, written in {clock.perf_counter() - walked:.1f} s)"
    )
