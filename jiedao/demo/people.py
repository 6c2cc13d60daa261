"""Made-up residents: Chinese names by generation and households with a believable age mix.

Ages are counted from a fixed reference date, not today, so one seed gives the same people on
any day the generator runs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

REFERENCE_DATE = date(2026, 1, 1)

# Common surnames with rough weights for northern China; the tail shares a small weight.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.6),
    ("李", 7.4),
    ("张", 7.2),
    ("刘", 6.0),
    ("赵", 3.2),
    ("杨", 3.1),
    ("陈", 3.0),
    ("孙", 2.2),
    ("高", 2.0),
    ("马", 1.9),
    ("周", 1.6),
    ("吴", 1.3),
    ("徐", 1.3),
    ("郭", 1.3),
    ("胡", 1.1),
    ("朱", 1.0),
    ("何", 0.8),
    ("韩", 1.0),
    ("于", 1.0),
    ("董", 0.9),
    ("冯", 0.8),
    ("宋", 0.8),
    ("郑", 0.7),
    ("谢", 0.5),
    ("唐", 0.5),
    ("许", 0.6),
    ("曹", 0.7),
    ("袁", 0.5),
    ("邓", 0.4),
    ("田", 0.8),
    ("任", 0.6),
    ("姜", 0.6),
    ("范", 0.5),
    ("石", 0.6),
    ("崔", 0.6),
    ("白", 0.6),
    ("贾", 0.6),
    ("魏", 0.6),
    ("吕", 0.5),
    ("程", 0.5),
    ("史", 0.5),
    ("苏", 0.4),
    ("侯", 0.5),
    ("孟", 0.5),
    ("常", 0.4),
    ("武", 0.5),
    ("乔", 0.4),
    ("秦", 0.4),
    ("薛", 0.4),
    ("闫", 0.5),
    ("邢", 0.3),
    ("付", 0.4),
    ("齐", 0.3),
    ("尹", 0.3),
    ("康", 0.3),
    ("申", 0.2),
)

# Given-name characters by generation and sex: (first characters, second characters).
GIVEN_CHARS: dict[tuple[str, str], tuple[str, str]] = {
    ("elder", "M"): (
        "建国志德振永福宝长文玉树金连春明立保庆万",
        "国军华明强林山生海忠成祥民福荣发全顺才",
    ),
    ("elder", "F"): ("秀桂玉淑凤素翠金春兰月美荣德", "英兰珍芝梅芳华琴云荣霞凤莲娥"),
    ("middle", "M"): ("志海建晓永春立红卫国东宏俊德文明", "刚涛华东军强伟杰峰斌勇明辉波亮平"),
    ("middle", "F"): ("丽海晓雪春红秀美淑艳彩玉小燕", "娟燕红梅华霞丽芳萍玲静敏艳英"),
    ("young", "M"): ("浩宇子俊文天晨家思明鹏一佳嘉博", "然航豪杰博宇阳豪远轩飞辰鑫帅磊"),
    ("young", "F"): ("佳梦欣雨诗思雅晓子婉心嘉一若", "怡瑶欣萱涵琪婷雯璇琳悦彤妍"),
    ("child", "M"): ("子梓宇浩沐铭奕俊皓一瑞睿泽宸", "轩睿泽宸豪辰熙诺航阳霖铭杰凯"),
    ("child", "F"): ("梓欣语可若诗雨思依芷一子星安", "涵妍桐馨汐琪萱彤诺若瑶然月冉"),
}
SINGLE_CHAR_SHARE = {"elder": 0.1, "middle": 0.3, "young": 0.2, "child": 0.1}

# Household sizes (persons) and their shares: mean about 3.0.
HOUSEHOLD_SIZES = ((1, 0.12), (2, 0.26), (3, 0.28), (4, 0.19), (5, 0.10), (6, 0.05))
# Age of the household's core adult, by band (lower, upper inclusive) and weight.
CORE_AGE_BANDS = (
    (22, 29, 0.10),
    (30, 39, 0.22),
    (40, 49, 0.20),
    (50, 59, 0.20),
    (60, 69, 0.16),
    (70, 89, 0.12),
)
# People who live alone are young workers or, more often, the old (独居老人).
SINGLE_AGE_BANDS = (
    (22, 29, 0.14),
    (30, 39, 0.14),
    (40, 49, 0.08),
    (50, 59, 0.10),
    (60, 69, 0.18),
    (70, 92, 0.36),
)
# Tenants: smaller and younger households (migrant workers, young couples).
TENANT_SIZES = ((1, 0.30), (2, 0.30), (3, 0.25), (4, 0.15))
TENANT_AGE_BANDS = ((19, 29, 0.38), (30, 39, 0.32), (40, 49, 0.18), (50, 64, 0.12))
# Relations to the head (the values of registry.models.Person.Relation).
HEAD, SPOUSE, CHILD, PARENT = "head", "spouse", "child", "parent"


@dataclass(frozen=True)
class Resident:
    name: str
    sex: str
    birth_date: date
    relation: str = ""


class NameMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._surnames = [s for s, _ in SURNAMES]
        self._weights = [w for _, w in SURNAMES]

    def surname(self) -> str:
        return self.rng.choices(self._surnames, self._weights)[0]

    def given(self, sex: str, birth_year: int) -> str:
        era = _era(birth_year)
        first, second = GIVEN_CHARS[(era, sex)]
        if self.rng.random() < SINGLE_CHAR_SHARE[era]:
            return self.rng.choice(second)
        a, b = self.rng.choice(first), self.rng.choice(second)
        return a + b if a != b else a + self.rng.choice(second)

    def full(self, sex: str, birth_year: int, surname: str | None = None) -> str:
        return (surname or self.surname()) + self.given(sex, birth_year)


def _era(birth_year: int) -> str:
    if birth_year < 1965:
        return "elder"
    if birth_year < 1990:
        return "middle"
    if birth_year < 2010:
        return "young"
    return "child"


class HouseholdMaker:
    """Builds the members of one household: a core adult, a partner, children, grandparents."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = NameMaker(rng)

    def size(self, sizes: tuple[tuple[int, float], ...] = HOUSEHOLD_SIZES) -> int:
        values, weights = zip(*sizes, strict=True)
        return self.rng.choices(values, weights)[0]

    def members(
        self, size: int, bands: tuple[tuple[int, int, float], ...] | None = None
    ) -> list[Resident]:
        """``size`` people, the head first; ``bands`` overrides the head's age bands."""
        rng = self.rng
        if bands is None:
            bands = SINGLE_AGE_BANDS if size == 1 else CORE_AGE_BANDS
        lower, upper, _ = rng.choices(bands, [b[2] for b in bands])[0]
        core_age, core_sex = rng.randint(lower, upper), rng.choice("MF")
        family = self.names.surname()
        people = [self._person(core_sex, core_age, family if core_sex == "M" else None, HEAD)]
        # Most two-person homes are couples; the rest a parent with a child or an old parent.
        if size >= 3 or (size == 2 and rng.random() < 0.85):
            people.append(self._partner(core_sex, core_age, family))
        youngest_parent = min(self._age(p) for p in people)
        children = 0
        while len(people) < size:
            age = youngest_parent - rng.randint(22, 34) - children * rng.randint(1, 4)
            if age >= 0 and children < 3 and (core_age < 65 or rng.random() < 0.3):
                people.append(self._person(rng.choice("MF"), age, family, CHILD))
                children += 1
            elif core_age < 62:
                older = min(core_age + rng.randint(24, 32), 98)
                people.append(self._person(rng.choice("MFF"), older, None, PARENT))
            else:
                younger = core_age - rng.randint(24, 34)
                people.append(self._person(rng.choice("MF"), younger, family, CHILD))
        return people

    def relative_away(self, family: list[Resident]) -> Resident:
        """One more member of ``family``'s 户籍 who lives elsewhere: a grown-up child who moved
        out, or (for a young head) a parent who lives with another child."""
        head, rng = family[0], self.rng
        age = self._age(head)
        surname = head.name[0] if head.sex == "M" else None
        if age >= 45:
            return self._person(rng.choice("MF"), age - rng.randint(22, 32), surname, CHILD)
        sex = rng.choice("MF")
        return self._person(sex, age + rng.randint(24, 32), surname if sex == "M" else None, PARENT)

    def _partner(self, core_sex: str, core_age: int, family: str) -> Resident:
        sex = "F" if core_sex == "M" else "M"
        age = max(20, core_age + self.rng.randint(-4, 4) + (2 if sex == "M" else -1))
        return self._person(sex, age, family if sex == "M" else None, SPOUSE)

    def _person(self, sex: str, age: int, surname: str | None, relation: str = "") -> Resident:
        age = max(0, age)
        day = self.rng.randint(0, 364)
        birth = REFERENCE_DATE - timedelta(days=age * 365 + age // 4 + day + 1)
        return Resident(self.names.full(sex, birth.year, surname), sex, birth, relation)

    @staticmethod
    def _age(person: Resident) -> int:
        return (REFERENCE_DATE - person.birth_date).days // 365
