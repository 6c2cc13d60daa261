"""The default catalogue: shape, domain defaults, Open311 attributes, idempotence, no overwrite."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import translation

from jiedao.audit.models import AuditEntry
from jiedao.cases import catalogue
from jiedao.cases.catalogue import DEFAULT_CATALOGUE, catalogue_rows, load_default_catalogue
from jiedao.cases.models import Category, HandlerType
from jiedao.cases.routing import resolve_route

pytestmark = pytest.mark.django_db

ATTRIBUTE_KEYS = {
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


def rows() -> list[tuple]:
    return list(Category.objects.order_by("code").values_list())


def test_loads_every_default_with_main_and_sub_codes_in_the_gbt_manner():
    result = load_default_catalogue()
    mains = Category.objects.filter(parent__isnull=True)
    subs = Category.objects.filter(parent__isnull=False).select_related("parent")
    assert result == (len(catalogue_rows()), 0)
    assert mains.count() == len(DEFAULT_CATALOGUE) >= 20
    assert subs.count() >= 60
    assert all(re.fullmatch(r"[BSM]\d{2}", m.code) for m in mains)
    for sub in subs:
        assert re.fullmatch(r"[BSM]\d{4}", sub.code), sub.code
        assert sub.code.startswith(sub.parent.code) and sub.parent.is_main
        assert sub.handler_type in HandlerType.values
    names = set(Category.objects.values_list("name", flat=True))
    for wanted in ("公用设施", "交通设施", "园林绿化", "房屋管理", "市容环境", "街面秩序"):
        assert wanted in names
    for wanted in ("供水", "供暖", "供电", "燃气", "排水管道", "停车", "环境卫生", "占道经营"):
        assert wanted in names
    for wanted in ("流动摊贩", "噪音扰民", "物业管理", "违章建设"):
        assert wanted in names


def test_deadlines_are_the_domain_defaults_and_hazards_are_faster():
    load_default_catalogue()
    for category in Category.objects.all():
        hazard = category.code in catalogue.HAZARDS
        assert category.deadline_days == (1 if hazard else 5)
        assert category.urgent_deadline_days == 1
        assert category.extended_deadline_days == 15
        assert category.acknowledge_minutes == (30 if hazard else 120)
        assert category.urgent_acknowledge_minutes == 30
        assert category.contact_hours == 24
        assert category.active
    assert Category.objects.get(code="M0401").name == "燃气异味"


def test_open311_attributes_have_the_georeport_shape():
    load_default_catalogue()
    with_attributes = Category.objects.exclude(attributes=[])
    assert with_attributes.count() >= 5
    for category in with_attributes:
        orders = [a["order"] for a in category.attributes]
        assert len(set(orders)) == len(orders)
        for attribute in category.attributes:
            assert set(attribute) == ATTRIBUTE_KEYS
            assert attribute["datatype"] in DATATYPES and attribute["variable"] is True
            assert isinstance(attribute["required"], bool) and attribute["description"]
            if attribute["datatype"].endswith("valuelist"):
                keys = [v["key"] for v in attribute["values"]]
                assert keys and len(set(keys)) == len(keys)
                assert all(set(v) == {"key", "name"} and v["name"] for v in attribute["values"])
            else:
                assert attribute["values"] == []
    noise = Category.objects.get(name="生活噪音").attributes
    assert noise[0]["code"] == "time_of_day" and noise[0]["datatype"] == "singlevaluelist"
    heating = Category.objects.get(name="暖气不热").attributes
    assert heating[0]["code"] == "indoor_temperature" and heating[0]["datatype"] == "number"
    assert heating[0]["required"] is True


def test_a_second_run_changes_nothing_and_writes_no_audit_entry():
    load_default_catalogue()
    before, audits = rows(), AuditEntry.all_objects.count()
    assert load_default_catalogue() == (0, 0)
    assert rows() == before
    assert AuditEntry.all_objects.count() == audits


def test_every_created_category_is_audited():
    created, _ = load_default_catalogue()
    entries = AuditEntry.all_objects.filter(action="cases.category.create")
    assert entries.count() == created
    assert entries.filter(object_id=str(Category.objects.get(code="M0501").pk)).exists()


def test_the_streets_edits_are_never_overwritten_and_only_missing_codes_come_back():
    load_default_catalogue()
    heating = Category.objects.get(code="M02")
    heating.name, heating.handler_type = "冬季供暖", HandlerType.STREET
    heating.save()
    cold = Category.objects.get(code="M0201")
    cold.deadline_days, cold.attributes, cold.active = 3, [], False
    cold.save()
    Category.objects.get(code="M0203").delete()
    assert load_default_catalogue() == (1, 0)
    heating.refresh_from_db()
    cold.refresh_from_db()
    assert (heating.name, heating.handler_type) == ("冬季供暖", HandlerType.STREET)
    assert (cold.deadline_days, cold.attributes, cold.active) == (3, [], False)
    restored = Category.objects.get(code="M0203")
    assert restored.parent == heating and restored.name == "供暖收费"


def test_a_code_the_street_reused_for_a_sub_category_gets_no_children():
    other = Category.objects.create(code="X01", name="其他")
    Category.objects.create(code="M13", name="自定义小类", parent=other)
    load_default_catalogue()
    assert not Category.objects.filter(code__in=["M1301", "M1302"]).exists()
    assert Category.objects.get(code="M13").name == "自定义小类"


def test_a_bad_default_fails_clearly_and_creates_nothing(monkeypatch):
    good = catalogue_rows()
    broken = dict(good[-1][0], code="M9901", name="名" * 61)
    monkeypatch.setattr(catalogue, "catalogue_rows", lambda: [*good, (broken, None)])
    with pytest.raises(ValidationError):
        load_default_catalogue()
    assert not Category.objects.exists()
    assert not AuditEntry.all_objects.filter(action="cases.category.create").exists()


def test_the_command_says_what_it_did():
    out = StringIO()
    total = len(catalogue_rows())
    with translation.override("en"):
        call_command("load_case_catalogue", stdout=out)
        call_command("load_case_catalogue", stdout=out)
    first, second = out.getvalue().strip().splitlines()
    assert f"{total} categories created, 0 already present" in first
    assert f"0 categories created, {total} already present" in second


def test_loaded_sub_categories_route_by_their_default_handler(world):
    load_default_catalogue()
    for code, handler in (("S0101", "community"), ("M0501", "department"), ("M0401", "utility")):
        route = resolve_route(Category.objects.get(code=code), world.grid_a1x.code)
        assert route.is_fallback and route.handler_type == handler
