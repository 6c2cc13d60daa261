"""Duplicate suggestion (domain.md §3): same category, within about 100 m and 72 h, similar text.

``candidates(case)`` only suggests; a dispatcher decides and merges with the ``merge`` transition.

Rules, in the order they are applied:

* the same 小类 (category) and the same street (a merge across streets is refused anyway);
* another case that is not final (closed, not registered, merged); it may be in any open node;
* received within ``WINDOW`` (72 h) before or after the case, boundaries included;
* within ``RADIUS_M`` (100 m, boundary included) by the haversine distance on the WGS-84 points,
  after a latitude/longitude bounding box in SQL so only a handful of rows are read. Cases
  located only by a standard address (no point) match cases at the same standard address;
* text similarity at least ``SIMILARITY_THRESHOLD``: the descriptions are cut into words with
  jieba, stop words (function words and the hotline's boilerplate such as 市民来电反映,
  希望尽快处理) and punctuation dropped, and the two word sets compared by their cosine
  (Ochiai coefficient: shared words ÷ √(words in one × words in the other)), from 0 to 1.

Why 0.25: location, time and category already narrow the field to a few cases, so the text
check only has to set apart another problem at the same spot from the same problem told in
other words, and a wrong suggestion costs the dispatcher a glance while a missed one costs a
second handling. Short reports of the same thing share their key words
("小区门口垃圾三天没人清运" / "门口的垃圾好几天没清运了": 垃圾, 清运 of three words each → 0.67;
"路灯不亮" / "路灯坏了不亮" → 0.82) while another problem shares none ("路灯不亮" → 0). The cosine
is kinder than Jaccard to a short report against a long one.
"""

from __future__ import annotations

import logging
import math
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any

from django.db.models import Q, QuerySet

from jiedao.cases.models import FINAL_NODES, Case
from jiedao.core.geo import METRES_PER_DEGREE, haversine_m
from jiedao.core.scopes import unscoped

RADIUS_M = 100.0
WINDOW = timedelta(hours=72)
SIMILARITY_THRESHOLD = 0.25
# Rows read from the database before the exact checks; the box and window keep it far lower.
MAX_ROWS = 500


def _words(*lines: str) -> tuple[str, ...]:
    """Word lists written as space-separated lines, easier to read and edit than literals."""
    return tuple(" ".join(lines).split())


STOP_WORDS = frozenset(
    _words(
        # Function words, pronouns, particles and fillers.
        "的 地 得 了 着 过 是 在 有 和 与 及 或 也 都 就 还 又 很 太 非常 比较 特别 已经 一直 一个 一些 "
        "这 那 这个 那个 这里 那里 这边 那边 这样 那样 这种 我 我们 你 你们 他 他们 她 它 大家 自己 "
        "啊 吧 呢 吗 么 呀 哦 嘛 把 被 给 让 对 从 向 到 为 因为 所以 但是 但 而且 并且 如果 "
        "没 没有 不 人 好 里 上 下 中 内 外 等 个 些 次 后 前 时 时候 现在 目前 经常 总是 "
        # Hotline boilerplate that every report carries.
        "市民 居民 来电 反映 反应 投诉 举报 称 表示 希望 要求 请求 请 麻烦 尽快 及时 帮忙 处理 解决 "
        "协调 相关 有关 部门 问题 情况 现象 诉求 谢谢 "
        # Generic places: the cases are already within 100 m, so these say nothing more.
        "小区 社区 附近 旁边 周边 周围 门口 楼下 路边 号 号楼 单元",
    )
)

# Words of urban management that jieba's general dictionary cuts badly ("路灯不亮" → 路 /
# 灯不亮). Added to a private tokenizer with a high frequency so they win the segmentation.
DOMAIN_WORDS = _words(
    "路灯 不亮 井盖 清运 垃圾桶 垃圾站 下水道 污水 漏水 积水 堵塞 暖气 不热 停水 停电 "
    "占道经营 私搭乱建 违章建筑 噪音扰民 油烟扰民 乱停车 乱贴 小广告 飞线充电 "
    "树枝 绿化带 路面 塌陷 坑洼 围挡 渣土 扬尘 电梯 楼道 杂物",
)
DOMAIN_WORD_FREQ = 20_000


@dataclass(frozen=True)
class Candidate:
    """A possible duplicate of a case. ``metres`` is None when the two are matched by their
    standard address (at least one of them has no point)."""

    case: Case
    metres: float | None
    hours: float
    similarity: float


def candidates(case: Case, limit: int = 5, among: QuerySet[Case] | None = None) -> list[Candidate]:
    """Cases that may report the same problem as ``case``, most similar first.

    ``among`` narrows the search to the cases a user may see (``selectors.cases(user)``);
    without it every case is searched (the system's own view)."""
    rows = _nearby_rows(case, among)
    found = []
    for other in rows[:MAX_ROWS]:
        metres = _distance(case, other)
        if metres is not None and metres > RADIUS_M:
            continue
        similarity = text_similarity(case.description, other.description)
        if similarity < SIMILARITY_THRESHOLD:
            continue
        hours = abs((other.created_at - case.created_at).total_seconds()) / 3600
        found.append(Candidate(other, metres, hours, similarity))
    found.sort(key=lambda c: (-c.similarity, c.metres or 0.0, c.hours, c.case.pk))
    return found[:limit]


def _nearby_rows(case: Case, among: QuerySet[Case] | None) -> QuerySet[Case]:
    """Same category and street, open, inside the time window and the box (or same address)."""
    with unscoped():
        rows = among if among is not None else Case.objects.all()
        rows = rows.filter(
            category_id=case.category_id,
            street_code=case.street_code,
            created_at__gte=case.created_at - WINDOW,
            created_at__lte=case.created_at + WINDOW,
        )
        rows = rows.exclude(pk=case.pk).exclude(node__in=sorted(FINAL_NODES))
        return rows.filter(_place_q(case)).select_related("category").order_by("-created_at")


def _place_q(case: Case) -> Q:
    """Points in a box a little larger than the circle, or the same standard address. The
    exact distance is checked afterwards; the box only lets the database skip far rows."""
    query = Q(pk__in=[])
    if case.lat is not None and case.lng is not None:
        dlat = RADIUS_M / METRES_PER_DEGREE * 1.01
        # cos shrinks towards the poles; clamp so the box stays finite (China: 18°–54° N).
        dlng = dlat / max(math.cos(math.radians(case.lat)), 0.01)
        query |= Q(
            lat__gte=case.lat - dlat,
            lat__lte=case.lat + dlat,
            lng__gte=case.lng - dlng,
            lng__lte=case.lng + dlng,
        )
    if case.address_id is not None:
        query |= Q(address_id=case.address_id)
    return query


def _distance(case: Case, other: Case) -> float | None:
    """Metres between the two points; None when one has none (then they share an address, or
    the database would not have returned the row)."""
    if None in (case.lat, case.lng, other.lat, other.lng):
        return None
    return haversine_m(case.lng, case.lat, other.lng, other.lat)  # type: ignore[arg-type]


# --- Text similarity -------------------------------------------------------------------------


def text_similarity(first: str, second: str) -> float:
    """Cosine of the two descriptions' word sets, 0 (nothing shared) … 1 (the same words)."""
    a, b = tokens(first), tokens(second)
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


@lru_cache(maxsize=4096)
def tokens(text: str) -> frozenset[str]:
    """The content words of a description: jieba's cut without stop words and punctuation."""
    words = (word.strip().lower() for word in _jieba().lcut(text))
    return frozenset(w for w in words if w and w not in STOP_WORDS and not _is_noise(w))


def _is_noise(word: str) -> bool:
    """Punctuation, symbols, spaces, and bare numbers (house numbers: the place is already
    compared by distance). Unicode categories P*, S*, Z*, C* and N*."""
    return all(unicodedata.category(ch)[0] in "PSZCN" for ch in word)


@cache
def _jieba() -> Any:
    """A private jieba tokenizer with the domain words, loaded once per process (about a
    second) with its start-up chatter silenced. Private, so the words added here do not change
    how other code in the process cuts text."""
    with warnings.catch_warnings():  # jieba 0.42's regexes warn about escapes on first compile
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in DOMAIN_WORDS:
        tokenizer.add_word(word, freq=DOMAIN_WORD_FREQ)
    return tokenizer
