"""The case catalogue and the routing rule table, as the street edits them (domain.md §3).

Writes: permission first, then every validation error at once (by field, so a page shows each
next to its field), one transaction, an audit entry with the row before and after. Nothing is
written when anything is wrong. The reads the catalogue pages need follow at the end.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from jiedao.audit.services import log_action, snapshot
from jiedao.cases.models import DEPARTMENT_HANDLERS, Case, Category, HandlerType, RoutingRule
from jiedao.cases.open311 import clean_service_attributes
from jiedao.cases.routing import (
    Route,
    applicable_rules,
    category_rank,
    resolve_route,
    specificity,
    unit_code_for,
)
from jiedao.cases.rules import CATALOGUE_EDITORS
from jiedao.core.permissions import require_perm
from jiedao.core.scopes import code_within, unscoped
from jiedao.core.selectors import scope_of
from jiedao.territory import codes
from jiedao.territory.models import Community, Department, District, Grid, Street, TerritoryNode

CATALOGUE_PERM = "cases.edit_catalogue"
ROUTING_PERM = "cases.edit_routing"
# Resolve deadlines in working days (domain.md §3: typically 5, urgent 1, extended 15).
MIN_DAYS, MAX_DAYS = 1, 60
# Hour and minute limits run on the clock (2 h, urgent 30 min; caller contacted within 24 h).
MAX_MINUTES, MAX_CONTACT_HOURS = 7 * 24 * 60, 30 * 24
DEADLINE_FIELDS = ("urgent_deadline_days", "deadline_days", "extended_deadline_days")
CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{1,16}$")
NODE_MODELS: tuple[type[TerritoryNode], ...] = (District, Street, Community, Grid)

Errors = dict[str, list[str]]


def _raise(errors: Errors) -> None:
    if errors:
        raise ValidationError(dict(errors))


def _audit_code(actor: Any, code: str = "") -> str:
    """Where an entry shows in the audit trail: the rule's place, else the actor's first grant
    (the catalogue belongs to no territory, and a blank code would show to system admins only)."""
    if code:
        return code
    return next((g.node_code for g in getattr(actor, "active_grants", []) if g.node_code), "")


def level_of(code: str) -> str:
    """district, street, community or grid for a territory code; "" for everywhere."""
    if not code:
        return ""
    if len(code) > 12:
        return "grid"
    if code.endswith("000000"):
        return "district"
    return "street" if code.endswith("000") else "community"


# --- Categories ------------------------------------------------------------------------------


def category_in_use(category: Category) -> bool:
    """Whether cases are filed under it (cases keep their category: it is then deactivated,
    never deleted)."""
    if category.pk is None:
        return False
    return Case.all_objects.filter(category_id=category.pk).exists()


def category_errors(category: Category, *, is_main: bool) -> Errors:
    errors: Errors = defaultdict(list)
    stored = Category.objects.filter(pk=category.pk).first() if category.pk else None
    _check_code(category, stored, errors)
    _check_parent(category, stored, is_main, errors)
    _check_deadlines(category, errors)
    if category.handler_type not in HandlerType.values:
        errors["handler_type"].append(_("Choose a handler type from the list."))
    parent = category.parent
    if category.active and parent is not None and not parent.active:
        errors["active"].append(
            _("Its main category is inactive: activate the main category first.")
        )
    errors["attributes"].extend(attribute_errors(category.attributes))
    if not (category.name or "").strip():
        errors["name"].append(_("Give the category a name."))
    return {field: messages for field, messages in errors.items() if messages}


def _check_code(category: Category, stored: Category | None, errors: Errors) -> None:
    code = category.code or ""
    if not CODE_PATTERN.match(code):
        errors["code"].append(_("A code has 1 to 16 letters or digits, for example 0101."))
        return
    if Category.objects.filter(code=code).exclude(pk=category.pk).exists():
        errors["code"].append(
            _("The code %(code)s is already taken by another category.") % {"code": code}
        )
    if stored is not None and stored.code != code:
        if category_in_use(stored):
            errors["code"].append(
                _("Cases are filed under this category: its code no longer changes.")
            )
        elif stored.children.exists():
            errors["code"].append(
                _("This main category has subcategories: its code no longer changes.")
            )


def _check_parent(
    category: Category, stored: Category | None, is_main: bool, errors: Errors
) -> None:
    parent = category.parent
    if is_main:
        if parent is not None:
            errors["parent"].append(_("A main category (大类) has no parent: leave it empty."))
        elif stored is not None and stored.parent_id and category_in_use(stored):
            errors["parent"].append(
                _("Cases are filed under this subcategory: it cannot become a main category.")
            )
        return
    if parent is None:
        errors["parent"].append(_("Choose the main category (大类) of this subcategory."))
        return
    if parent.parent_id is not None or (category.pk and parent.pk == category.pk):
        errors["parent"].append(_("Choose a main category (大类), not a subcategory."))
        return
    if stored is not None and stored.children.exists():
        errors["parent"].append(
            _("This main category has subcategories: it cannot become a subcategory.")
        )
    code = category.code or ""
    if CODE_PATTERN.match(code) and (not code.startswith(parent.code) or code == parent.code):
        errors["code"].append(
            _(
                "A subcategory's code starts with its main category's code (%(code)s) and is "
                "longer, for example %(example)s."
            )
            % {"code": parent.code, "example": f"{parent.code}01"}
        )


def _check_deadlines(category: Category, errors: Errors) -> None:
    days = {name: getattr(category, name) for name in DEADLINE_FIELDS}
    in_range = True
    for name, value in days.items():
        if value is None or not MIN_DAYS <= value <= MAX_DAYS:
            errors[name].append(
                _("Between %(min)s and %(max)s working days.") % {"min": MIN_DAYS, "max": MAX_DAYS}
            )
            in_range = False
    if in_range and days["urgent_deadline_days"] > days["deadline_days"]:
        errors["urgent_deadline_days"].append(
            _("The urgent deadline cannot be longer than the normal one (%(n)s working days).")
            % {"n": days["deadline_days"]}
        )
    if in_range and days["extended_deadline_days"] < days["deadline_days"]:
        errors["extended_deadline_days"].append(
            _("The extended deadline cannot be shorter than the normal one (%(n)s working days).")
            % {"n": days["deadline_days"]}
        )
    ack, urgent_ack = category.acknowledge_minutes, category.urgent_acknowledge_minutes
    for name, value in (("acknowledge_minutes", ack), ("urgent_acknowledge_minutes", urgent_ack)):
        if value is None or not 1 <= value <= MAX_MINUTES:
            errors[name].append(_("Between 1 and %(max)s minutes.") % {"max": MAX_MINUTES})
    minutes_ok = not errors.get("acknowledge_minutes") and not errors.get(
        "urgent_acknowledge_minutes"
    )
    if minutes_ok and urgent_ack > ack:
        errors["urgent_acknowledge_minutes"].append(
            _("Acknowledging an urgent case cannot take longer than a normal one (%(n)s minutes).")
            % {"n": ack}
        )
    hours = category.contact_hours
    if hours is None or not 1 <= hours <= MAX_CONTACT_HOURS:
        errors["contact_hours"].append(
            _("Between 1 and %(max)s hours.") % {"max": MAX_CONTACT_HOURS}
        )


@transaction.atomic
def save_category(actor: Any, category: Category, *, is_main: bool) -> list[Category]:
    """Create or update a 大类 (``is_main``) or a 小类. Deactivating a 大类 deactivates its
    小类 too (no new case can be filed under them); returns those it deactivated."""
    require_perm(actor, CATALOGUE_PERM)
    _raise(category_errors(category, is_main=is_main))
    stored = Category.objects.select_for_update().filter(pk=category.pk).first()
    before = snapshot(stored)
    category.save()
    verb = "create" if stored is None else "update"
    log_action(
        actor,
        f"cases.category.{verb}",
        category,
        before=before,
        after=snapshot(category),
        territory_code=_audit_code(actor),
    )
    if category.active or not category.is_main:
        return []
    return _deactivate_children(actor, category)


def _deactivate_children(actor: Any, main: Category) -> list[Category]:
    children = list(main.children.filter(active=True).select_for_update())
    for child in children:
        before = snapshot(child)
        child.active = False
        child.save(update_fields=["active"])
        log_action(
            actor,
            "cases.category.update",
            child,
            before=before,
            after=snapshot(child),
            note=f"main category {main.code} deactivated",
            territory_code=_audit_code(actor),
        )
    return children


@dataclass(frozen=True)
class CategoryRemoval:
    deleted: bool  # False: deactivated instead (cases or subcategories use it)
    rules_deleted: int = 0


@transaction.atomic
def delete_category(actor: Any, category: Category) -> CategoryRemoval:
    """Delete a category no case and no subcategory uses (with its routing rules); one in use
    is deactivated instead, so the cases filed under it keep their category."""
    require_perm(actor, CATALOGUE_PERM)
    if category_in_use(category) or category.children.exists():
        if category.active:
            category.active = False
            save_category(actor, category, is_main=category.is_main)
        return CategoryRemoval(deleted=False)
    rules = list(category.routing_rules.all())
    for rule in rules:
        _log_rule_delete(actor, rule, note=f"category {category.code} deleted")
    before = snapshot(category)
    log_action(
        actor,
        "cases.category.delete",
        category,
        before=before,
        territory_code=_audit_code(actor),
    )
    category.delete()
    return CategoryRemoval(deleted=True, rules_deleted=len(rules))


# --- Open311 extra questions (GeoReport v2 service definition "attributes") ------------------

ATTRIBUTE_KEYS = (
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
)


def attribute_errors(attributes: Any) -> list[str]:
    """What is wrong with a category's extra questions. The shape is the one Open311 serves
    (``open311.clean_service_attributes``, so the catalogue never saves a definition the API
    would refuse); the page is stricter about unknown fields (a typo such as "requried" would
    otherwise be dropped silently) and about the question text, which the caller must see."""
    try:
        clean_service_attributes(attributes)
    except ValidationError as exc:
        errors = list(exc.messages)
    else:
        errors = []
    if not isinstance(attributes, list):
        return errors
    for number, item in enumerate(attributes, start=1):
        if not isinstance(item, dict):
            continue
        unknown = sorted(set(item) - set(ATTRIBUTE_KEYS))
        if unknown:
            errors.append(
                _("Question %(n)s: unknown field(s) %(fields)s; allowed: %(allowed)s.")
                % {"n": number, "fields": ", ".join(unknown), "allowed": ", ".join(ATTRIBUTE_KEYS)}
            )
        description = item.get("description")
        if isinstance(description, str | type(None)) and not (description or "").strip():
            errors.append(
                _("Question %(n)s: the description (the question the caller reads) is required.")
                % {"n": number}
            )
    return errors


# --- Routing rules ---------------------------------------------------------------------------


def territory_node(code: str) -> TerritoryNode | None:
    """The district, street, community or grid with this code (retired ones too)."""
    model = {"district": District, "street": Street, "community": Community, "grid": Grid}.get(
        level_of(code)
    )
    if model is None:
        return None
    with unscoped():
        return model.all_objects.filter(code=code).first()


def routing_rule_errors(rule: RoutingRule) -> Errors:
    errors: Errors = defaultdict(list)
    code = rule.territory_code or ""
    if code:
        node = territory_node(code)
        if node is None:
            errors["territory_code"].append(
                _("Choose a district, street, community or grid (or everywhere).")
            )
        elif node.retired_at is not None:
            errors["territory_code"].append(
                _("%(name)s is retired: choose a current place.") % {"name": node.name}
            )
    if rule.handler_type not in HandlerType.values:
        errors["handler_type"].append(_("Choose a handler type from the list."))
    _check_department(rule, errors)
    if not errors and _duplicate_of(rule) is not None:
        errors[NON_FIELD_ERRORS].append(_duplicate_message(rule))
    return {field: messages for field, messages in errors.items() if messages}


def _check_department(rule: RoutingRule, errors: Errors) -> None:
    department = rule.department
    if rule.handler_type not in DEPARTMENT_HANDLERS:
        if department is not None:
            errors["department"].append(
                _("Only department and utility rules name a department: leave it empty.")
            )
        return
    if department is None:
        errors["department"].append(
            _("Choose the department: a rule for a department or utility names one.")
        )
        return
    code = rule.territory_code or ""
    if not code:
        errors["territory_code"].append(
            _(
                "A department handles cases only in its own district: choose its district or "
                "a place inside it instead of everywhere."
            )
        )
    elif department.territory_code[:6] != code[:6]:
        errors["department"].append(
            _("%(department)s belongs to another district than the chosen place.")
            % {"department": department.name}
        )
    if rule.handler_type == HandlerType.UTILITY and department.kind != Department.Kind.UTILITY:
        errors["department"].append(
            _("For the handler type Utility choose a department of the kind utility.")
        )


def _duplicate_of(rule: RoutingRule) -> RoutingRule | None:
    same = RoutingRule.objects.filter(territory_code=rule.territory_code or "")
    if rule.category_id is None:
        same = same.filter(category__isnull=True)
    else:
        same = same.filter(category_id=rule.category_id)
    return same.exclude(pk=rule.pk).first()


def _duplicate_message(rule: RoutingRule) -> str:
    return _("There is already a rule for %(category)s in %(place)s: change that rule instead.") % {
        "category": rule.category or _("every category"),
        "place": place_label(rule.territory_code or ""),
    }


def _stored_rule(rule: RoutingRule) -> RoutingRule | None:
    if rule.pk is None:
        return None
    return RoutingRule.objects.select_for_update().filter(pk=rule.pk).order_by().first()


@transaction.atomic
def save_routing_rule(actor: Any, rule: RoutingRule) -> RoutingRule:
    """Create or update a rule. The actor must be an editor both where the rule was and where
    it now is."""
    stored = _stored_rule(rule)
    if stored is not None:
        require_perm(actor, ROUTING_PERM, stored)
    require_perm(actor, ROUTING_PERM, rule)
    _raise(routing_rule_errors(rule))
    rule.territory_code = rule.territory_code or ""
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin is an error, not a 500
            rule.save()
    except IntegrityError as exc:
        raise ValidationError({NON_FIELD_ERRORS: [_duplicate_message(rule)]}) from exc
    log_action(
        actor,
        f"cases.routingrule.{'create' if stored is None else 'update'}",
        rule,
        before=snapshot(stored),
        after=snapshot(rule),
        territory_code=_audit_code(actor, rule.territory_code),
    )
    return rule


def _log_rule_delete(actor: Any, rule: RoutingRule, note: str = "") -> None:
    log_action(
        actor,
        "cases.routingrule.delete",
        rule,
        before=snapshot(rule),
        note=note,
        territory_code=_audit_code(actor, rule.territory_code),
    )


@transaction.atomic
def delete_routing_rule(actor: Any, rule: RoutingRule) -> None:
    stored = _stored_rule(rule)
    if stored is None:
        return  # already gone: nothing to do, nothing to record
    require_perm(actor, ROUTING_PERM, stored)
    _log_rule_delete(actor, stored)
    stored.delete()


# --- Reads for the pages ---------------------------------------------------------------------


def categories(q: str = "", active: str = "", main: int | None = None) -> QuerySet[Category]:
    """The catalogue as a tree: each 大类 followed by its 小类 (search keeps the tree order)."""
    rows = Category.objects.select_related("parent").annotate(
        main_code=Coalesce("parent__code", "code")
    )
    if q:
        rows = rows.filter(
            Q(code__startswith=q) | Q(name__icontains=q) | Q(parent__name__icontains=q)
        )
    if active in ("yes", "no"):
        rows = rows.filter(active=active == "yes")
    if main:
        rows = rows.filter(Q(pk=main) | Q(parent_id=main))
    return rows.order_by("main_code", F("parent_id").asc(nulls_first=True), "code")


def main_categories() -> QuerySet[Category]:
    return Category.objects.filter(parent__isnull=True).order_by("code")


def place_label(code: str) -> str:
    if not code:
        return _("everywhere")
    node = territory_node(code)
    return f"{node.name} ({code})" if node is not None else code


def place_names(codes_: set[str]) -> dict[str, str]:
    """Names of many places at once (one query per level)."""
    by_level: dict[str, list[str]] = defaultdict(list)
    for code in codes_:
        by_level[level_of(code)].append(code)
    names: dict[str, str] = {}
    with unscoped():
        for model in NODE_MODELS:
            wanted = by_level.get(model.level, [])
            if wanted:
                rows = model.all_objects.filter(code__in=wanted)
                names.update(rows.values_list("code", "name"))
    return names


def routing_rules(
    actor: Any, territory: str = "", category: Category | None = None
) -> list[RoutingRule]:
    """The rules that concern the actor's territory, most specific first. ``territory``: rules
    that apply there or lie inside it; ``category``: rules that apply to it (for a 大类 also
    those of its 小类)."""
    rows = RoutingRule.objects.select_related("category__parent", "department")
    scope = scope_of(actor)
    if not scope.everything:
        rows = rows.filter(_concerning(scope.prefixes | scope.structure_prefixes))
    if category is not None:
        wanted = Q(category__isnull=True) | Q(category=category)
        wanted |= (
            Q(category_id=category.parent_id)
            if category.parent_id
            else Q(category__parent=category)
        )
        rows = rows.filter(wanted)
    rules = list(rows)
    if territory:
        prefix = codes.scope_prefix(territory)
        rules = [r for r in rules if _applies_or_inside(r.territory_code, territory, prefix)]
    return sorted(rules, key=lambda r: (specificity(r), r.territory_code), reverse=True)


def _concerning(prefixes: set[str] | frozenset[str]) -> Q:
    """Rules for everywhere, for a place that contains one of the prefixes, or inside one."""
    query = Q(territory_code="")
    for prefix in prefixes:
        query |= code_within("territory_code", prefix)
        query |= Q(territory_code__in=_containing_codes(prefix))
    return query


def _containing_codes(prefix: str) -> list[str]:
    """The codes of the district, street and community that contain a place's prefix."""
    found = [prefix[:6] + "000000"]
    if len(prefix) >= 9:
        found.append(prefix[:9] + "000")
    if len(prefix) >= 12:
        found.append(prefix[:12])
    return found


def _applies_or_inside(rule_code: str, territory: str, prefix: str) -> bool:
    if not rule_code:
        return True
    return territory.startswith(codes.scope_prefix(rule_code)) or rule_code.startswith(prefix)


def editable_places(actor: Any) -> list[tuple[str, str, str]]:
    """(code, name, level) of every current place the actor may set rules for, with "" for
    everywhere when they may; in code order, so each place follows the one containing it."""
    places: list[tuple[str, str, str]] = []
    if actor.has_perm(ROUTING_PERM, RoutingRule(territory_code="")):
        places.append(("", _("everywhere"), ""))
    scope = actor.scope_for(set(CATALOGUE_EDITORS))
    found: list[tuple[str, str, str]] = []
    with unscoped():
        for model in NODE_MODELS:
            rows = model.all_objects.filter(retired_at__isnull=True)
            if not scope.everything:
                rows = rows.filter(scope.q("code"))
            found.extend(
                (code, name, model.level) for code, name in rows.values_list("code", "name")
            )
    allowed = [
        place
        for place in found
        if actor.has_perm(ROUTING_PERM, RoutingRule(territory_code=place[0]))
    ]
    return places + sorted(allowed)


def departments_for(actor: Any) -> QuerySet[Department]:
    """Departments a rule of the actor may name: those of the districts they edit in."""
    scope = actor.scope_for(set(CATALOGUE_EDITORS))
    rows = Department.all_objects.select_related("district").order_by("district__code", "code")
    if scope.everything:
        return rows
    districts = {prefix[:6] for prefix in scope.prefixes}
    query = Q(pk__in=[])
    for district in districts:
        query |= code_within("territory_code", district)
    return rows.filter(query)


def visible_places(
    actor: Any, models: tuple[type[TerritoryNode], ...] = NODE_MODELS
) -> list[tuple[str, str, str]]:
    """(code, name, level) of the current places of these levels the actor may see, in code
    order (each place follows the one containing it). The route preview offers communities
    and grids."""
    places: list[tuple[str, str, str]] = []
    scope = scope_of(actor)
    with unscoped():
        for model in models:
            rows = model.all_objects.filter(scope.structure_q("code"), retired_at__isnull=True)
            places.extend(
                (code, name, model.level) for code, name in rows.values_list("code", "name")
            )
    return sorted(places)


@dataclass(frozen=True)
class Candidate:
    rule: RoutingRule
    category_rank: int
    territory_level: str
    wins: bool


@dataclass(frozen=True)
class RoutePreview:
    category: Category
    place: str
    route: Route
    candidates: list[Candidate]
    unit_code: str

    @property
    def winner(self) -> RoutingRule | None:
        return self.route.rule


def explain_route(category: Category, place: str) -> RoutePreview:
    """Which rule wins for a case of ``category`` in ``place`` (a grid or community code), and
    every rule that was in the running, most specific first."""
    route = resolve_route(category, place)
    applying = applicable_rules(category, place)
    winner_pk = route.rule.pk if route.rule is not None else None
    candidates = [
        Candidate(rule, category_rank(rule), level_of(rule.territory_code), rule.pk == winner_pk)
        for rule in applying
    ]
    return RoutePreview(
        category, place, route, candidates, unit_code_for(route.handler_type, place)
    )
