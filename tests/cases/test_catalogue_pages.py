"""The street's catalogue and routing pages (domain.md §3: "a rule table, editable by the street,
not code"): who may see and change what, inside and outside their territory; every bad form
shows a field error and changes nothing; every write is audited; the preview names the rule
that wins; the lists export.

Expectations are written out by hand: the catalogue is kept by street staff, street leaders,
district and system administrators; a routing rule by those roles where one of their grants
covers the rule's place; a rule for everywhere by the district and system administrators only.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases import catalogue_services as services
from jiedao.cases.catalogue import load_default_catalogue
from jiedao.cases.models import Category, HandlerType, RoutingRule
from jiedao.cases.routing import resolve_route
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Department
from tests import factories as f

from .conftest import submit

pytestmark = pytest.mark.django_db

ROLES = list(Role)
STAFF = [r for r in ROLES if r != Role.RESIDENT]
EDITORS = {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
# Editors whose grant covers street B (the role_users are granted inside street A).
EDITORS_OF_STREET_B = {Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
EVERYWHERE_EDITORS = {Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}


@pytest.fixture(autouse=True)
def english(settings):
    """Messages are checked in English (the zh-hans catalogue translates them)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def audit_count() -> int:
    with unscoped():
        return AuditEntry.objects.count()


def last_audit(action: str) -> AuditEntry:
    with unscoped():
        return AuditEntry.objects.filter(action=action).latest("seq")


def category_data(categories, **overrides):
    data = {
        "kind": "sub",
        "parent": categories["main"].pk,
        "code": "0103",
        "name": "占道经营",
        "handler_type": HandlerType.COMMUNITY,
        "deadline_days": 5,
        "urgent_deadline_days": 1,
        "extended_deadline_days": 15,
        "acknowledge_minutes": 120,
        "urgent_acknowledge_minutes": 30,
        "contact_hours": 24,
        "active": "on",
        "attributes": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def rule_data(category=None, territory="", handler=HandlerType.STREET, department=None, note=""):
    return {
        "category": category.pk if category else "",
        "territory_code": territory,
        "handler_type": handler,
        "department": department.pk if department else "",
        "note": note,
    }


def rule(category, territory, handler=HandlerType.STREET, department=None):
    return RoutingRule.objects.create(
        category=category, territory_code=territory, handler_type=handler, department=department
    )


def login(client, user):
    client.force_login(user)
    return client


def form_errors(response, field="__all__"):
    return response.context["form"].errors.get(field, [])


# --- Who may see and change what ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", ["category_list", "routing_list", "route_preview"])
def test_the_read_pages_are_for_staff(client, role_users, categories, role, name):
    response = login(client, role_users[role]).get(reverse(f"cases:{name}"))
    assert response.status_code == (403 if role == Role.RESIDENT else 200), role


def test_anonymous_visitors_are_sent_to_sign_in(client, categories):
    for name in ("category_list", "routing_list", "route_preview", "category_new", "routing_new"):
        assert client.get(reverse(f"cases:{name}")).status_code == 302


@pytest.mark.parametrize("role", ROLES)
def test_who_may_add_a_category(client, role_users, categories, role):
    login(client, role_users[role])
    assert client.get(reverse("cases:category_new")).status_code == (
        200 if role in EDITORS else 403
    )
    response = client.post(reverse("cases:category_new"), category_data(categories))
    created = Category.objects.filter(code="0103").exists()
    if role in EDITORS:
        assert response.status_code == 302 and created
    else:
        assert response.status_code == 403 and not created


@pytest.mark.parametrize("role", ROLES)
def test_who_may_change_a_category(client, role_users, categories, role):
    target = categories["sanitation"]
    url = reverse("cases:category_edit", args=[target.pk])
    login(client, role_users[role])
    assert client.get(url).status_code == (200 if role in EDITORS else 403)
    response = client.post(url, category_data(categories, code="0101", name="垃圾清运（改）"))
    target.refresh_from_db()
    if role in EDITORS:
        assert response.status_code == 302 and target.name == "垃圾清运（改）"
    else:
        assert response.status_code == 403 and target.name == "垃圾清运"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("where", ["community_a1", "community_b1"])
def test_who_may_add_a_rule_where(client, world, role_users, categories, role, where):
    """A street's staff set rules inside their street only: community B1 lies in street B."""
    code = getattr(world, where).code
    login(client, role_users[role])
    assert client.get(reverse("cases:routing_new")).status_code == (200 if role in EDITORS else 403)
    response = client.post(reverse("cases:routing_new"), rule_data(categories["sanitation"], code))
    created = RoutingRule.objects.filter(territory_code=code).exists()
    allowed = role in (EDITORS_OF_STREET_B if where == "community_b1" else EDITORS)
    if allowed:
        assert response.status_code == 302 and created, role
    elif role in EDITORS:  # an editor elsewhere: the place is not offered, a clear field error
        assert response.status_code == 200 and not created, role
        assert form_errors(response, "territory_code")
    else:
        assert response.status_code == 403 and not created, role


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("where", ["community_a1", "community_b1", "grid_a2x"])
def test_who_may_change_and_delete_a_rule_where(client, world, role_users, categories, role, where):
    code = getattr(world, where).code
    target = rule(categories["sanitation"], code, HandlerType.COMMUNITY)
    allowed = role in (EDITORS_OF_STREET_B if where == "community_b1" else EDITORS)
    login(client, role_users[role])
    edit = reverse("cases:routing_edit", args=[target.pk])
    delete = reverse("cases:routing_delete", args=[target.pk])
    assert client.get(edit).status_code == (200 if allowed else 403), role
    assert client.get(delete).status_code == (200 if allowed else 403), role

    response = client.post(
        edit, rule_data(categories["sanitation"], code, HandlerType.PROPERTY, note="物业")
    )
    target.refresh_from_db()
    assert response.status_code == (302 if allowed else 403), role
    assert target.handler_type == (HandlerType.PROPERTY if allowed else HandlerType.COMMUNITY)

    response = client.post(delete)
    assert response.status_code == (302 if allowed else 403), role
    assert RoutingRule.objects.filter(pk=target.pk).exists() is not allowed


@pytest.mark.parametrize("role", sorted(EDITORS))
def test_only_the_district_sets_rules_for_everywhere(client, role_users, categories, role):
    login(client, role_users[role])
    response = client.post(
        reverse("cases:routing_new"), rule_data(categories["sanitation"], "", HandlerType.STREET)
    )
    created = RoutingRule.objects.filter(territory_code="").exists()
    if role in EVERYWHERE_EDITORS:
        assert response.status_code == 302 and created
    else:
        assert response.status_code == 200 and not created
        assert form_errors(response, "territory_code")
    everywhere = rule(categories["drainage"], "", HandlerType.STREET)
    status = client.get(reverse("cases:routing_edit", args=[everywhere.pk])).status_code
    assert status == (200 if role in EVERYWHERE_EDITORS else 403)


def test_a_rule_cannot_be_moved_out_of_ones_street(client, world, role_users, categories):
    target = rule(categories["sanitation"], world.community_a1.code, HandlerType.COMMUNITY)
    before = audit_count()
    login(client, role_users[Role.STREET_STAFF])
    response = client.post(
        reverse("cases:routing_edit", args=[target.pk]),
        rule_data(categories["sanitation"], world.community_b1.code, HandlerType.STREET),
    )
    assert response.status_code == 200 and form_errors(response, "territory_code")
    target.refresh_from_db()
    assert target.territory_code == world.community_a1.code
    assert audit_count() == before


def test_the_service_refuses_a_place_outside_the_actors_street(world, role_users, categories):
    street_staff = role_users[Role.STREET_STAFF]
    with pytest.raises(PermissionDenied):
        services.save_routing_rule(
            street_staff,
            RoutingRule(
                category=categories["sanitation"],
                territory_code=world.community_b1.code,
                handler_type=HandlerType.STREET,
            ),
        )
    theirs = rule(categories["sanitation"], world.community_b1.code)
    with pytest.raises(PermissionDenied):
        services.delete_routing_rule(street_staff, theirs)
    # Nor may street B's rule be pulled into street A (checked where it was, too).
    theirs.territory_code = world.community_a1.code
    with pytest.raises(PermissionDenied):
        services.save_routing_rule(street_staff, theirs)
    # Moving one's own rule into street B is refused too (checked where it was and where it goes).
    own = rule(categories["drainage"], world.community_a1.code)
    own.territory_code = world.community_b1.code
    with pytest.raises(PermissionDenied):
        services.save_routing_rule(street_staff, own)
    assert RoutingRule.objects.filter(territory_code=world.community_b1.code).count() == 1


def test_permission_is_per_grant_not_the_merged_scope(world, categories):
    """Street staff in street B and workstation staff in community A1: a rule in A1 is not
    theirs to set, although their merged scope covers A1."""
    user = f.user_with_role(Role.STREET_STAFF, world.street_b, username="mixed")
    RoleGrant(user=user, role=Role.WORKSTATION_STAFF, community=world.community_a1).save()
    user.clear_grant_cache()
    assert user.scope.covers_code(world.community_a1.code)
    assert not user.has_perm(
        "cases.edit_routing", RoutingRule(territory_code=world.community_a1.code)
    )
    assert user.has_perm("cases.edit_routing", RoutingRule(territory_code=world.community_b1.code))
    codes = {code for code, _name, _level in services.editable_places(user)}
    assert world.community_b1.code in codes and world.community_a1.code not in codes


def test_the_places_offered_are_those_one_may_edit(world, role_users):
    street = {code for code, _n, _l in services.editable_places(role_users[Role.STREET_STAFF])}
    assert street == {
        world.street_a.code,
        world.community_a1.code,
        world.community_a2.code,
        world.grid_a1x.code,
        world.grid_a1y.code,
        world.grid_a2x.code,
    }
    district = {code for code, _n, _l in services.editable_places(role_users[Role.DISTRICT_ADMIN])}
    assert "" in district and world.district.code in district and world.grid_b1x.code in district
    assert services.editable_places(role_users[Role.GRID_WORKER]) == []


# --- Categories: validation ----------------------------------------------------------------


@pytest.fixture
def editor_client(client, role_users):
    return login(client, role_users[Role.STREET_STAFF])


BAD_CATEGORIES = [
    ({"kind": "sub", "parent": ""}, "parent"),
    ({"kind": "main", "code": "03"}, "parent"),  # a 大类 with a parent
    ({"code": "01"}, "code"),  # taken by the 大类
    ({"code": "0201"}, "code"),  # does not start with 01
    ({"code": "01"}, "code"),
    ({"code": "01 03"}, "code"),
    ({"deadline_days": 0}, "deadline_days"),
    ({"deadline_days": 61, "extended_deadline_days": 61}, "deadline_days"),
    ({"urgent_deadline_days": 6}, "urgent_deadline_days"),  # urgent > normal (5)
    ({"extended_deadline_days": 4}, "extended_deadline_days"),  # extended < normal
    ({"urgent_acknowledge_minutes": 121}, "urgent_acknowledge_minutes"),
    ({"contact_hours": 0}, "contact_hours"),
    ({"name": "   "}, "name"),
    ({"attributes": "[{"}, "attributes"),
    ({"attributes": '{"code": "depth"}'}, "attributes"),
    (
        {"attributes": '[{"code": "depth", "datatype": "float", "description": "深度"}]'},
        "attributes",
    ),
    ({"attributes": '[{"datatype": "string", "description": "说明"}]'}, "attributes"),
    (
        {"attributes": '[{"code": "kind", "datatype": "singlevaluelist", "description": "类型"}]'},
        "attributes",
    ),
    (
        {
            "attributes": '[{"code": "a", "datatype": "string", "description": "x"},'
            ' {"code": "a", "datatype": "text", "description": "y"}]'
        },
        "attributes",
    ),
    (
        {"attributes": '[{"code": "a", "datatype": "string", "description": "x", "colour": 1}]'},
        "attributes",
    ),
    (
        {
            "attributes": '[{"code": "a", "datatype": "string", "description": "x", "required": "yes"}]'
        },
        "attributes",
    ),
]


@pytest.mark.parametrize("overrides,field", BAD_CATEGORIES)
def test_a_bad_new_category_shows_a_field_error_and_saves_nothing(
    editor_client, categories, overrides, field
):
    if overrides.get("kind") == "main":
        overrides = {**overrides, "parent": categories["main"].pk}
    count, audits = Category.objects.count(), audit_count()
    response = editor_client.post(
        reverse("cases:category_new"), category_data(categories, **overrides)
    )
    assert response.status_code == 200
    assert form_errors(response, field), response.context["form"].errors
    assert Category.objects.count() == count and audit_count() == audits


def test_the_parent_must_be_a_main_category(editor_client, categories):
    response = editor_client.post(
        reverse("cases:category_new"),
        category_data(categories, parent=categories["sanitation"].pk, code="010101"),
    )
    assert form_errors(response, "parent")  # a 小类 is not offered as a parent at all
    with pytest.raises(ValidationError) as caught:
        services.save_category(
            None,
            Category(code="010101", name="x", parent=categories["sanitation"]),
            is_main=False,
        )
    assert "parent" in caught.value.message_dict


def test_errors_are_explained_in_words(editor_client, categories):
    response = editor_client.post(
        reverse("cases:category_new"),
        category_data(
            categories,
            code="0201",
            urgent_deadline_days=7,
            attributes='[{"code": "depth", "datatype": "float", "description": "深度"}]',
        ),
    )
    text = response.content.decode()
    assert "starts with its main category&#x27;s code (01)" in text
    assert "cannot be longer than the normal one (5 working days)" in text
    assert "Question 1" in text and "singlevaluelist" in text
    assert "Nothing was saved" in text


# Around the edges: 0/1, the usual 5 and 15, and 60/61.
DAYS = st.integers(-1, 7) | st.integers(13, 17) | st.integers(58, 62)


# The categories are only read: one set serves every example.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(urgent=DAYS, normal=DAYS, extended=DAYS)
@example(urgent=6, normal=5, extended=15)
@example(urgent=1, normal=5, extended=4)
@example(urgent=1, normal=1, extended=60)
def test_deadlines_are_1_to_60_days_and_urgent_normal_extended_in_order(
    categories, urgent, normal, extended
):
    category = Category(
        code="0109",
        name="测试",
        parent=categories["main"],
        deadline_days=normal,
        urgent_deadline_days=urgent,
        extended_deadline_days=extended,
    )
    errors = services.category_errors(category, is_main=False)
    valid = 1 <= urgent <= normal <= extended <= 60
    assert (not errors) == valid, errors
    assert set(errors) <= {"deadline_days", "urgent_deadline_days", "extended_deadline_days"}


def test_a_valid_category_with_open311_questions_is_saved_and_audited(editor_client, categories):
    questions = (
        '[{"code": "depth", "datatype": "number", "description": "积水深度（厘米）", '
        '"required": false, "variable": true, "order": 1}, '
        '{"code": "where", "datatype": "singlevaluelist", "description": "位置", '
        '"values": [{"key": "road", "name": "道路"}, {"key": "yard", "name": "小区"}]}]'
    )
    response = editor_client.post(
        reverse("cases:category_new"),
        category_data(categories, code="0103", attributes=questions, deadline_days=10),
    )
    assert response.status_code == 302
    saved = Category.objects.get(code="0103")
    assert saved.parent == categories["main"] and saved.deadline_days == 10
    assert [a["code"] for a in saved.attributes] == ["depth", "where"]
    entry = last_audit("cases.category.create")
    assert entry.before is None and entry.after["code"] == "0103"
    assert entry.actor.username == "street"
    assert entry.territory_code == "110119001000"  # shows in the editor's street's trail


def test_the_default_catalogue_passes_the_pages_checks(db):
    """The street can change any default category without first repairing it."""
    assert load_default_catalogue().created > 50
    for category in Category.objects.select_related("parent"):
        assert services.category_errors(category, is_main=category.is_main) == {}, category


def test_a_main_category_is_saved_without_parent(editor_client, categories):
    response = editor_client.post(
        reverse("cases:category_new"),
        category_data(categories, kind="main", parent="", code="02", name="设施管理"),
    )
    assert response.status_code == 302
    assert Category.objects.get(code="02").is_main


def test_a_change_is_audited_with_before_and_after(editor_client, categories):
    target = categories["sanitation"]
    editor_client.post(
        reverse("cases:category_edit", args=[target.pk]),
        category_data(categories, code="0101", name="垃圾清运", deadline_days=7),
    )
    entry = last_audit("cases.category.update")
    assert entry.before["deadline_days"] == 5 and entry.after["deadline_days"] == 7


def test_a_category_in_use_keeps_its_code_and_is_deactivated_not_deleted(
    editor_client, world, categories
):
    target = categories["sanitation"]
    submit(world.grid_a1x, target)
    response = editor_client.post(
        reverse("cases:category_edit", args=[target.pk]),
        category_data(categories, code="0199", name="垃圾清运"),
    )
    assert form_errors(response, "code")
    response = editor_client.post(
        reverse("cases:category_edit", args=[target.pk]),
        category_data(categories, kind="main", parent="", code="0101", name="垃圾清运"),
    )
    assert form_errors(response, "parent")  # its cases would sit under a 大类
    response = editor_client.post(reverse("cases:category_delete", args=[target.pk]))
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.active is False  # still there: its case keeps it
    assert last_audit("cases.category.update").after["active"] is False


def test_an_unused_category_is_deleted_with_its_rules(editor_client, world, categories):
    target = categories["drainage"]
    own = rule(target, world.community_a1.code, HandlerType.STREET)
    response = editor_client.post(reverse("cases:category_delete", args=[target.pk]))
    assert response.status_code == 302
    assert not Category.objects.filter(pk=target.pk).exists()
    assert not RoutingRule.objects.filter(pk=own.pk).exists()
    assert last_audit("cases.category.delete").before["code"] == "0102"
    assert last_audit("cases.routingrule.delete").before["id"] == own.pk


def test_deactivating_a_main_category_deactivates_its_subcategories(editor_client, categories):
    main = categories["main"]
    response = editor_client.post(
        reverse("cases:category_edit", args=[main.pk]),
        category_data(categories, kind="main", parent="", code="01", name="市容环境", active=None),
    )
    assert response.status_code == 302
    assert not Category.objects.filter(parent=main, active=True).exists()
    # A subcategory cannot be active under an inactive main category.
    response = editor_client.post(
        reverse("cases:category_edit", args=[categories["sanitation"].pk]),
        category_data(categories, code="0101", name="垃圾清运"),
    )
    assert form_errors(response, "active")


# --- Routing rules: validation -----------------------------------------------------------------


def test_a_department_rule_needs_a_department_of_the_places_district(
    client, world, role_users, categories
):
    login(client, role_users[Role.SYSTEM_ADMIN])
    url = reverse("cases:routing_new")
    drainage, code = categories["drainage"], world.community_a1.code
    response = client.post(url, rule_data(drainage, code, HandlerType.DEPARTMENT))
    assert form_errors(response, "department")
    response = client.post(
        url, rule_data(drainage, code, HandlerType.DEPARTMENT, world.other_department)
    )
    assert "another district" in " ".join(form_errors(response, "department"))
    response = client.post(url, rule_data(drainage, code, HandlerType.COMMUNITY, world.department))
    assert form_errors(response, "department")  # only department handlers name one
    response = client.post(url, rule_data(drainage, code, HandlerType.UTILITY, world.department))
    assert form_errors(response, "department")  # 城管委 is not a utility
    response = client.post(url, rule_data(drainage, "", HandlerType.DEPARTMENT, world.department))
    assert form_errors(response, "territory_code")  # a department does not serve everywhere
    assert not RoutingRule.objects.exists()

    response = client.post(url, rule_data(drainage, code, HandlerType.DEPARTMENT, world.department))
    assert response.status_code == 302
    water = f.DepartmentFactory(district=world.district, kind=Department.Kind.UTILITY)
    response = client.post(
        url, rule_data(drainage, world.grid_a1x.code, HandlerType.UTILITY, water)
    )
    assert response.status_code == 302
    assert RoutingRule.objects.count() == 2


def test_a_street_user_is_offered_only_the_departments_of_its_district(
    client, world, role_users, categories
):
    login(client, role_users[Role.STREET_STAFF])
    response = client.post(
        reverse("cases:routing_new"),
        rule_data(
            categories["drainage"],
            world.community_a1.code,
            HandlerType.DEPARTMENT,
            world.other_department,
        ),
    )
    assert response.status_code == 200 and form_errors(response, "department")
    assert not RoutingRule.objects.exists()


def test_a_second_rule_for_the_same_category_and_place_is_a_clear_error(
    editor_client, world, categories
):
    existing = rule(categories["sanitation"], world.community_a1.code, HandlerType.COMMUNITY)
    rule(None, world.street_a.code, HandlerType.STREET)
    before = audit_count()
    for category, code in (
        (categories["sanitation"], world.community_a1.code),
        (None, world.street_a.code),
    ):
        response = editor_client.post(
            reverse("cases:routing_new"), rule_data(category, code, HandlerType.PROPERTY)
        )
        assert response.status_code == 200
        assert "There is already a rule" in " ".join(form_errors(response))
    # Changing another rule into a twin is refused the same way.
    other = rule(categories["drainage"], world.community_a1.code)
    response = editor_client.post(
        reverse("cases:routing_edit", args=[other.pk]),
        rule_data(categories["sanitation"], world.community_a1.code),
    )
    assert "There is already a rule" in " ".join(form_errors(response))
    other.refresh_from_db()
    assert other.category == categories["drainage"] and existing.handler_type == "community"
    assert audit_count() == before


def test_a_concurrent_twin_is_a_validation_error_not_a_500(
    monkeypatch, world, role_users, categories
):
    rule(categories["sanitation"], world.community_a1.code)
    monkeypatch.setattr(services, "_duplicate_of", lambda rule: None)  # the check raced
    with pytest.raises(ValidationError) as caught:
        services.save_routing_rule(
            role_users[Role.STREET_STAFF],
            RoutingRule(
                category=categories["sanitation"],
                territory_code=world.community_a1.code,
                handler_type=HandlerType.STREET,
            ),
        )
    assert "There is already a rule" in " ".join(caught.value.messages)
    assert RoutingRule.objects.count() == 1


def test_rule_writes_are_audited_with_before_and_after(client, world, role_users, categories):
    login(client, role_users[Role.STREET_LEADER])
    code = world.grid_a1x.code
    client.post(reverse("cases:routing_new"), rule_data(categories["sanitation"], code))
    created = RoutingRule.objects.get(territory_code=code)
    entry = last_audit("cases.routingrule.create")
    assert entry.before is None and entry.after["handler_type"] == HandlerType.STREET
    assert entry.territory_code == code and entry.object_id == str(created.pk)

    client.post(
        reverse("cases:routing_edit", args=[created.pk]),
        rule_data(categories["sanitation"], code, HandlerType.PROPERTY),
    )
    entry = last_audit("cases.routingrule.update")
    assert (entry.before["handler_type"], entry.after["handler_type"]) == ("street", "property")

    client.post(reverse("cases:routing_delete", args=[created.pk]))
    entry = last_audit("cases.routingrule.delete")
    assert entry.before["handler_type"] == "property" and entry.after is None


# --- The rule list ---------------------------------------------------------------------------


def test_the_rule_list_is_most_specific_first_and_filters(client, world, role_users, categories):
    sanitation, main = categories["sanitation"], categories["main"]
    everywhere = rule(None, "", HandlerType.STREET)
    district_main = rule(main, world.district.code, HandlerType.PROPERTY)
    grid_any = rule(None, world.grid_a1x.code, HandlerType.COMMUNITY)
    community_sub = rule(sanitation, world.community_a1.code, HandlerType.COMMUNITY)
    street_b_sub = rule(sanitation, world.street_b.code, HandlerType.STREET)
    drainage = rule(categories["drainage"], world.street_a.code, HandlerType.STREET)

    login(client, role_users[Role.STREET_STAFF])
    rows = client.get(reverse("cases:routing_list")).context["object_list"]
    order = [row.rule for row in rows]
    # 小类 rules first (community before street), then the 大类's, then every category's.
    assert order == [community_sub, drainage, district_main, grid_any, everywhere]
    assert street_b_sub not in order  # street B's own rules are not street A's business
    assert [row.can_edit for row in rows] == [True, True, False, True, False]

    filtered = client.get(
        reverse("cases:routing_list"), {"territory": world.grid_a1x.code, "category": sanitation.pk}
    ).context["object_list"]
    assert [row.rule for row in filtered] == [community_sub, district_main, grid_any, everywhere]


# --- Route preview ---------------------------------------------------------------------------


def test_the_preview_shows_the_winning_rule_and_why(client, world, role_users, categories):
    sanitation = categories["sanitation"]
    rule(categories["main"], world.street_a.code, HandlerType.PROPERTY)
    rule(sanitation, world.district.code, HandlerType.DEPARTMENT, world.department)
    winner = rule(sanitation, world.community_a1.code, HandlerType.STREET)
    rule(sanitation, world.community_b1.code, HandlerType.COMMUNITY)  # elsewhere
    login(client, role_users[Role.GRID_WORKER])
    response = client.get(
        reverse("cases:route_preview"), {"category": sanitation.pk, "place": world.grid_a1x.code}
    )
    preview = response.context["preview"]
    assert preview.winner == winner == resolve_route(sanitation, world.grid_a1x.code).rule
    assert [c.rule.territory_code for c in preview.candidates] == [
        world.community_a1.code,
        world.district.code,
        world.street_a.code,
    ]
    assert [c.wins for c in preview.candidates] == [True, False, False]
    text = response.content.decode()
    assert f'data-rule="{winner.pk}"' in text
    assert preview.unit_code == world.street_a.code  # a street handler: the case's street


def test_the_preview_falls_back_to_the_category_default(client, world, role_users, categories):
    rule(categories["sanitation"], world.grid_a1y.code, HandlerType.STREET)  # another grid
    login(client, role_users[Role.WORKSTATION_STAFF])
    response = client.get(
        reverse("cases:route_preview"),
        {"category": categories["sanitation"].pk, "place": world.grid_a1x.code},
    )
    preview = response.context["preview"]
    assert preview.winner is None and preview.route.handler_type == HandlerType.COMMUNITY
    assert 'id="category-default"' in response.content.decode()
    # For a whole community, single grids' rules are not in the running.
    response = client.get(
        reverse("cases:route_preview"),
        {"category": categories["sanitation"].pk, "place": world.community_a1.code},
    )
    assert response.context["preview"].winner is None


def test_the_preview_offers_only_places_one_may_see(client, world, role_users, categories):
    login(client, role_users[Role.STREET_STAFF])
    response = client.get(
        reverse("cases:route_preview"),
        {"category": categories["sanitation"].pk, "place": world.grid_b1x.code},
    )
    assert response.context["preview"] is None and form_errors(response, "place")
    response = client.get(
        reverse("cases:route_preview"),
        {"category": categories["main"].pk, "place": world.grid_a1x.code},
    )
    assert form_errors(response, "category")  # cases are filed under a 小类


# --- The category list and the exports -------------------------------------------------------


def test_the_category_list_is_a_tree_and_searchable(editor_client, categories):
    Category.objects.create(code="02", name="设施管理")
    Category.objects.create(code="0201", name="路灯", parent=Category.objects.get(code="02"))
    rows = editor_client.get(reverse("cases:category_list")).context["object_list"]
    assert [c.code for c in rows] == ["01", "0101", "0102", "02", "0201"]
    rows = editor_client.get(reverse("cases:category_list"), {"q": "路灯"}).context["object_list"]
    assert [c.code for c in rows] == ["0201"]
    categories["drainage"].active = False
    categories["drainage"].save()
    rows = editor_client.get(reverse("cases:category_list"), {"active": "no"}).context[
        "object_list"
    ]
    assert [c.code for c in rows] == ["0102"]


def test_the_category_list_exports_to_xlsx_and_the_export_is_audited(editor_client, categories):
    response = editor_client.get(reverse("cases:category_list"), {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + 3
    assert [r[0] for r in rows[1:]] == ["01", "0101", "0102"]
    assert rows[2][3] == "市容环境" and rows[2][5] == 5
    assert last_audit("export.case-categories").kind == AuditEntry.Kind.SENSITIVE_READ


def test_the_rule_list_exports_to_xlsx(client, world, role_users, categories):
    rule(categories["sanitation"], world.community_a1.code, HandlerType.COMMUNITY)
    login(client, role_users[Role.DISTRICT_ADMIN])
    response = client.get(reverse("cases:routing_list"), {"format": "xlsx"})
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][3] == world.community_a1.code and rows[1][4] == "香水园社区"


def test_the_pages_render_for_an_editor(editor_client, world, categories):
    target = rule(categories["sanitation"], world.community_a1.code)
    for url in (
        reverse("cases:category_list"),
        reverse("cases:category_new"),
        reverse("cases:category_edit", args=[categories["sanitation"].pk]),
        reverse("cases:category_delete", args=[categories["drainage"].pk]),
        reverse("cases:routing_list"),
        reverse("cases:routing_new"),
        reverse("cases:routing_edit", args=[target.pk]),
        reverse("cases:routing_delete", args=[target.pk]),
        reverse("cases:route_preview"),
    ):
        response = editor_client.get(url)
        assert response.status_code == 200, url
        assert b"<h1>" in response.content
    partial = editor_client.get(reverse("cases:category_list"), HTTP_HX_REQUEST="true")
    assert b"<h1>" not in partial.content and "0101" in partial.content.decode()
