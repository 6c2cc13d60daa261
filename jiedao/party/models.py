"""Party organisation (domain.md §6): the four levels 街道党工委 → 社区党组织 → 网格党支部 →
楼栋党小组, each tied to one territory node, and the members, each linked to a registry person.

An organisation's ``territory_code`` is the code of its node (a building group: its building's
grid), so the territory scope of a user covers exactly the organisations of their territory.
Whether an organisation's form fits its size is computed (jiedao.party.sizing), never stored."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from jiedao.core.scopes import ScopedModel
from jiedao.registry.models import Person
from jiedao.territory.models import Building, Community, Grid, Street


class Level(models.TextChoices):
    STREET = "street", _("Street working committee (街道党工委)")
    COMMUNITY = "community", _("Community party organisation (社区党组织)")
    GRID = "grid", _("Grid party branch (网格党支部)")
    BUILDING = "building", _("Building party group (楼栋党小组)")


class Form(models.TextChoices):
    WORKING_COMMITTEE = "working_committee", _("Working committee (党工委)")
    COMMITTEE = "committee", _("Party committee (党委)")
    GENERAL_BRANCH = "general_branch", _("General branch (党总支)")
    BRANCH = "branch", _("Branch (党支部)")
    GROUP = "group", _("Party group (党小组)")


# Top to bottom; each level's organisations sit under one organisation of the level above.
LEVEL_ORDER: tuple[str, ...] = (Level.STREET, Level.COMMUNITY, Level.GRID, Level.BUILDING)
PARENT_LEVEL: dict[str, str | None] = {
    Level.STREET: None,
    Level.COMMUNITY: Level.STREET,
    Level.GRID: Level.COMMUNITY,
    Level.BUILDING: Level.GRID,
}
LEVEL_FORMS: dict[str, tuple[str, ...]] = {
    Level.STREET: (Form.WORKING_COMMITTEE,),
    Level.COMMUNITY: (Form.COMMITTEE, Form.GENERAL_BRANCH, Form.BRANCH),
    Level.GRID: (Form.GENERAL_BRANCH, Form.BRANCH),
    Level.BUILDING: (Form.GROUP,),
}
NODE_MODELS: dict[str, type[models.Model]] = {
    Level.STREET: Street,
    Level.COMMUNITY: Community,
    Level.GRID: Grid,
    Level.BUILDING: Building,
}
# The usual Chinese name of each form, appended to the node's name for a default name.
FORM_SUFFIX: dict[str, str] = {
    Form.WORKING_COMMITTEE: "党工委",
    Form.COMMITTEE: "党委",
    Form.GENERAL_BRANCH: "党总支",
    Form.BRANCH: "党支部",
    Form.GROUP: "党小组",
}


def _forms_fit_levels() -> Q:
    fits = Q(pk__in=[])
    for level, forms in LEVEL_FORMS.items():
        fits |= Q(level=level, form__in=forms)
    return fits


def level_of(node: Any) -> str:
    """The party level of a territory node (street, community, grid or building)."""
    for level, model in NODE_MODELS.items():
        if isinstance(node, model):
            return level
    raise ValueError(f"{node!r} is not a street, community, grid or building")


class PartyOrganisation(ScopedModel):
    level = models.CharField(_("level"), max_length=16, choices=Level.choices)
    form = models.CharField(_("form"), max_length=20, choices=Form.choices)
    name = models.CharField(_("name"), max_length=120)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("higher organisation"),
    )
    building = models.ForeignKey(
        Building,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="party_groups",
        verbose_name=_("building"),
    )
    secretary = models.CharField(_("secretary"), max_length=40, blank=True)
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("party organisation")
        verbose_name_plural = _("party organisations")
        ordering = ["territory_code", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["level", "territory_code"],
                condition=~Q(level="building"),
                name="party_one_organisation_per_node",
            ),
            models.UniqueConstraint(
                fields=["building"],
                condition=Q(level="building"),
                name="party_one_group_per_building",
            ),
            models.CheckConstraint(
                condition=Q(level="building", building__isnull=False)
                | (~Q(level="building") & Q(building__isnull=True)),
                name="party_building_only_for_groups",
            ),
            models.CheckConstraint(
                condition=Q(level="street", parent__isnull=True)
                | (~Q(level="street") & Q(parent__isnull=False)),
                name="party_parent_unless_street",
            ),
            models.CheckConstraint(condition=_forms_fit_levels(), name="party_form_fits_level"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("party:organisation", args=[self.pk])

    @property
    def node(self) -> Any:
        """The territory node the organisation is set up on (None if it cannot be found)."""
        if self.level == Level.BUILDING:
            return self.building
        model = NODE_MODELS.get(self.level)
        if model is None:
            return None
        return model._base_manager.filter(code=self.territory_code).first()

    @property
    def node_code(self) -> str:
        return self.territory_code

    def clean(self) -> None:
        if self.form and self.level and self.form not in LEVEL_FORMS.get(self.level, ()):
            raise ValidationError(
                {"form": _("This form is not available at this level.")}, code="form_level"
            )
        node = self.node
        if node is None:
            raise ValidationError(
                _("No territory node of this level has this code."), code="node_missing"
            )
        self._check_parent(node)

    def _check_parent(self, node: Any) -> None:
        expected_level = PARENT_LEVEL.get(self.level)
        if expected_level is None:
            if self.parent_id is not None:
                raise ValidationError(
                    _("A street working committee has no higher organisation here."),
                    code="parent_level",
                )
            return
        parent = self.parent
        if parent is None or parent.level != expected_level:
            raise ValidationError(
                _("The higher organisation must be one level up: %(level)s.")
                % {"level": Level(expected_level).label},
                code="parent_level",
            )
        if parent.territory_code != parent_node_code(node):
            raise ValidationError(
                _("The higher organisation must be the one of the node's own parent (%(code)s).")
                % {"code": parent_node_code(node)},
                code="parent_node",
            )


def parent_node_code(node: Any) -> str:
    """The code of the node one level up (a building: its grid)."""
    if isinstance(node, Building):
        return node.grid.code
    if isinstance(node, Grid):
        return node.community.code
    if isinstance(node, Community):
        return node.street.code
    return ""


class PartyMember(ScopedModel):
    """One party member and the organisation they belong to. ``RESIDENT`` members have their
    organisation relation (组织关系) here and count towards its size; ``REGISTERED`` members
    are serving members of a unit who report to the community where they live (双报到): listed,
    not counted."""

    class Kind(models.TextChoices):
        RESIDENT = "resident", _("Organisation relation here")
        REGISTERED = "registered", _("Serving member reporting here (双报到)")

    class Status(models.TextChoices):
        FULL = "full", _("Full member (正式党员)")
        PROBATIONARY = "probationary", _("Probationary member (预备党员)")

    person = models.OneToOneField(
        Person, on_delete=models.PROTECT, related_name="party_membership", verbose_name=_("person")
    )
    organisation = models.ForeignKey(
        PartyOrganisation,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("party organisation"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RESIDENT)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.FULL
    )
    joined_on = models.DateField(_("joined the party on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("party member")
        verbose_name_plural = _("party members")
        ordering = ["organisation", "id"]

    def __str__(self) -> str:
        return f"{self.person} ({self.organisation})"

    def save(self, *args, **kwargs):
        self.territory_code = self.organisation.territory_code
        super().save(*args, **kwargs)
