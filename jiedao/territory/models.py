"""The territory (一标三实 base): district → street → community → grid → building → entrance →
dwelling, standard addresses, organisations on them, and district departments (domain.md §1)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.core.pinyin import initials
from jiedao.core.scopes import Scope, ScopedManager, ScopedModel
from jiedao.territory import codes


class Level(models.TextChoices):
    DISTRICT = "district", _("District")
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Community")
    GRID = "grid", _("Grid")


class SearchableMixin(models.Model):
    """Name plus pinyin initials, kept in step on save."""

    name = models.CharField(_("name"), max_length=120)
    initials = models.CharField(_("pinyin initials"), max_length=64, db_index=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.initials = initials(self.name)
        super().save(*args, **kwargs)


class TerritoryNode(SearchableMixin, models.Model):
    """A node with an official code. Nodes are retired, never deleted, so codes are never reused."""

    level: ClassVar[str]
    code = models.CharField(_("code"), max_length=24, unique=True)
    boundary = models.JSONField(_("boundary (GeoJSON, WGS-84)"), null=True, blank=True)
    centre_lat = models.FloatField(_("centre latitude"), null=True, blank=True)
    centre_lng = models.FloatField(_("centre longitude"), null=True, blank=True)
    retired_at = models.DateField(_("retired on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager()
    all_objects = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return scope.structure_q("code")

    @property
    def scope_prefix(self) -> str:
        return codes.scope_prefix(self.code)


class District(TerritoryNode):
    level = Level.DISTRICT

    class Meta(TerritoryNode.Meta):
        verbose_name = _("district")
        verbose_name_plural = _("districts")

    def get_absolute_url(self) -> str:
        return reverse("territory:district_detail", args=[self.code])

    def clean(self) -> None:
        codes.validate_district_code(self.code)


class Street(TerritoryNode):
    level = Level.STREET
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="streets")
    area_km2 = models.DecimalField(
        _("area (km²)"), max_digits=8, decimal_places=2, null=True, blank=True
    )

    class Meta(TerritoryNode.Meta):
        verbose_name = _("street")
        verbose_name_plural = _("streets")

    def get_absolute_url(self) -> str:
        return reverse("territory:street_detail", args=[self.code])

    def clean(self) -> None:
        codes.validate_street_code(self.code, self.district.code if self.district_id else None)


class Community(TerritoryNode):
    level = Level.COMMUNITY
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="communities")
    office_area_m2 = models.DecimalField(
        _("service and office space (m²)"), max_digits=8, decimal_places=1, null=True, blank=True
    )

    class Meta(TerritoryNode.Meta):
        verbose_name = _("community")
        verbose_name_plural = _("communities")

    def get_absolute_url(self) -> str:
        return reverse("territory:community_detail", args=[self.code])

    def clean(self) -> None:
        codes.validate_community_code(self.code, self.street.code if self.street_id else None)


class GridPurpose(models.TextChoices):
    """What one unified grid (一网统管) is used for: a grid may carry several purposes."""

    PARTY = "party", _("Party building")
    GOVERNANCE = "governance", _("Comprehensive governance")
    CITY = "city", _("City management")
    EMERGENCY = "emergency", _("Emergency")


def validate_purposes(value: object) -> None:
    """A list of distinct purpose values (``GridPurpose``)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(_("Purposes must be a list."), code="purposes_type")
    unknown = sorted(set(value) - set(GridPurpose.values))
    if unknown:
        raise ValidationError(
            _("Unknown grid purpose: %(values)s."),
            params={"values": ", ".join(unknown)},
            code="purposes_unknown",
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("A purpose is listed twice."), code="purposes_twice")


class Grid(TerritoryNode):
    level = Level.GRID
    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="grids")
    # A short fixed list read with the grid every time: a JSON list needs no join and no seeded
    # table; ``purpose_q`` filters portably (SQLite has no JSON containment lookup).
    purposes = models.JSONField(
        _("purposes"), default=list, blank=True, validators=[validate_purposes]
    )
    # Bounding box of the boundary: a cheap pre-filter before the exact point-in-polygon test.
    min_lng = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lng = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)

    class Meta(TerritoryNode.Meta):
        verbose_name = _("grid")
        verbose_name_plural = _("grids")

    def get_absolute_url(self) -> str:
        return reverse("territory:grid_detail", args=[self.code])

    def clean(self) -> None:
        codes.validate_grid_code(self.code, self.community.code if self.community_id else None)

    @staticmethod
    def purpose_q(purpose: str, field: str = "purposes") -> Q:
        """Grids carrying ``purpose``: the quoted value inside the JSON text (values are fixed
        words, none a substring of another in quotes), on SQLite and PostgreSQL alike."""
        return Q(**{f"{field}__icontains": f'"{purpose}"'})

    def get_purposes_display(self) -> str:
        """The purposes' labels, as a list column or a detail page shows them."""
        labels = dict(GridPurpose.choices)
        return "、".join(str(labels.get(value, value)) for value in self.purposes or [])


class GridWorker(ScopedModel):
    """A grid worker's assignment to a grid (专职 full-time or 兼职 part-time). Responsibility,
    not access: what the user may see and do comes from their RoleGrant. Assignments end (``until``)
    rather than being deleted, so who looked after a grid when stays known."""

    class Kind(models.TextChoices):
        FULL_TIME = "full_time", _("Full-time")
        PART_TIME = "part_time", _("Part-time")

    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="workers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="grid_assignments"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    since = models.DateField(_("since"), default=timezone.localdate)
    until = models.DateField(_("until"), null=True, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("grid worker")
        verbose_name_plural = _("grid workers")
        ordering = ["territory_code", "kind", "since"]
        constraints = [
            models.UniqueConstraint(
                fields=["grid", "user"],
                condition=Q(until__isnull=True),
                name="unique_active_grid_worker",
            ),
            models.CheckConstraint(
                condition=Q(until__isnull=True) | Q(until__gte=models.F("since")),
                name="grid_worker_until_after_since",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.grid} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        self.territory_code = self.grid.code
        super().save(*args, **kwargs)


class Department(SearchableMixin, ScopedModel):
    """A district department (区职能部门) that cases are sent to and that answers the whistle."""

    class Kind(models.TextChoices):
        LAW_ENFORCEMENT = "law_enforcement", _("Law enforcement")
        UTILITY = "utility", _("Utility")
        ADMINISTRATION = "administration", _("Administration")
        PUBLIC_SERVICE = "public_service", _("Public service")

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="departments")
    code = models.CharField(_("code"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    phone = models.CharField(_("duty phone"), max_length=32, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def get_absolute_url(self) -> str:
        return reverse("territory:department_detail", args=[self.code])

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        if scope.everything:
            return Q()
        return scope.structure_q("territory_code") | Q(pk__in=sorted(scope.department_ids))

    def save(self, *args, **kwargs):
        self.territory_code = self.district.code
        super().save(*args, **kwargs)


class StandardAddress(ScopedModel):
    """标准地址: the one address every dwelling, organisation, person and case hangs off."""

    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="addresses")
    road = models.CharField(_("road"), max_length=60)
    number = models.CharField(_("house number"), max_length=30)
    building_no = models.CharField(_("building"), max_length=20, blank=True)
    entrance_no = models.CharField(_("entrance"), max_length=20, blank=True)
    room_no = models.CharField(_("room"), max_length=20, blank=True)
    full_text = models.CharField(_("address"), max_length=255, db_index=True, editable=False)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("standard address")
        verbose_name_plural = _("standard addresses")
        ordering = ["territory_code", "full_text"]
        constraints = [
            models.UniqueConstraint(
                fields=["grid", "road", "number", "building_no", "entrance_no", "room_no"],
                name="unique_standard_address",
            )
        ]

    def __str__(self) -> str:
        return self.full_text

    def compose(self) -> str:
        parts = [self.road, self.number]
        parts += [f"{self.building_no}号楼"] if self.building_no else []
        parts += [f"{self.entrance_no}单元"] if self.entrance_no else []
        parts += [self.room_no] if self.room_no else []
        return "".join(parts)

    def save(self, *args, **kwargs):
        self.territory_code = self.grid.code
        self.full_text = self.compose()
        super().save(*args, **kwargs)


class Building(SearchableMixin, ScopedModel):
    class Use(models.TextChoices):
        RESIDENTIAL = "residential", _("Residential")
        COMMERCIAL = "commercial", _("Commercial")
        MIXED = "mixed", _("Mixed")
        PUBLIC = "public", _("Public")

    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="buildings")
    address = models.OneToOneField(
        StandardAddress, on_delete=models.PROTECT, related_name="building"
    )
    use = models.CharField(_("use"), max_length=16, choices=Use.choices, default=Use.RESIDENTIAL)
    floors = models.PositiveSmallIntegerField(_("floors"), default=6)
    year_built = models.PositiveSmallIntegerField(_("year built"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["territory_code", "name"]

    def get_absolute_url(self) -> str:
        return reverse("territory:building_detail", args=[self.pk])

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.address_id and self.grid_id and self.address.grid_id != self.grid_id:
            raise ValidationError(
                _("The building's address must lie in the building's grid."), code="address_grid"
            )

    def save(self, *args, **kwargs):
        self.territory_code = self.grid.code
        super().save(*args, **kwargs)


class Entrance(ScopedModel):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="entrances")
    number = models.PositiveSmallIntegerField(_("entrance number"))

    class Meta(ScopedModel.Meta):
        verbose_name = _("entrance")
        verbose_name_plural = _("entrances")
        ordering = ["building", "number"]
        constraints = [
            models.UniqueConstraint(fields=["building", "number"], name="unique_entrance")
        ]

    def __str__(self) -> str:
        return f"{self.building} {self.number}单元"

    def save(self, *args, **kwargs):
        self.territory_code = self.building.territory_code
        super().save(*args, **kwargs)


class Dwelling(ScopedModel):
    """房屋: one home or premises, on its own standard address."""

    class Use(models.TextChoices):
        SELF_OCCUPIED = "self_occupied", _("Self-occupied")
        RENTED = "rented", _("Rented")
        VACANT = "vacant", _("Vacant")
        COMMERCIAL = "commercial", _("Commercial")

    entrance = models.ForeignKey(Entrance, on_delete=models.PROTECT, related_name="dwellings")
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="dwellings")
    address = models.OneToOneField(
        StandardAddress, on_delete=models.PROTECT, related_name="dwelling"
    )
    room = models.CharField(_("room"), max_length=20)
    floor = models.SmallIntegerField(_("floor"))
    area_m2 = models.DecimalField(
        _("floor area (m²)"), max_digits=7, decimal_places=1, null=True, blank=True
    )
    use = models.CharField(_("use"), max_length=16, choices=Use.choices, default=Use.SELF_OCCUPIED)

    class Meta(ScopedModel.Meta):
        verbose_name = _("dwelling")
        verbose_name_plural = _("dwellings")
        ordering = ["building", "entrance", "room"]
        constraints = [
            models.UniqueConstraint(fields=["entrance", "room"], name="unique_dwelling_room")
        ]

    def __str__(self) -> str:
        return str(self.address)

    def get_absolute_url(self) -> str:
        return reverse("territory:dwelling_detail", args=[self.pk])

    def clean(self) -> None:
        if self.entrance_id and self.building_id and self.entrance.building_id != self.building_id:
            raise ValidationError(
                _("The entrance belongs to another building."), code="entrance_building"
            )
        if self.address_id and self.building_id and self.address.grid_id != self.building.grid_id:
            raise ValidationError(
                _("The dwelling's address must lie in its building's grid."), code="address_grid"
            )

    def save(self, *args, **kwargs):
        self.territory_code = self.building.territory_code
        super().save(*args, **kwargs)


class Organisation(SearchableMixin, ScopedModel):
    """Resident units (驻区单位), enterprises, social organisations, property-management companies."""

    class Kind(models.TextChoices):
        RESIDENT_UNIT = "resident_unit", _("Resident unit")
        ENTERPRISE = "enterprise", _("Enterprise")
        SOCIAL = "social", _("Social organisation")
        PROPERTY_MANAGEMENT = "property_management", _("Property-management company")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="organisations")
    address = models.ForeignKey(
        StandardAddress,
        on_delete=models.PROTECT,
        related_name="organisations",
        null=True,
        blank=True,
    )
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, blank=True, db_index=True
    )
    employees = models.PositiveIntegerField(_("employees"), default=0)
    contact_name = models.CharField(_("contact"), max_length=40, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["territory_code", "name"]

    def get_absolute_url(self) -> str:
        return reverse("territory:organisation_detail", args=[self.pk])

    def clean(self) -> None:
        if self.address is not None and self.grid_id and self.address.grid_id != self.grid_id:
            raise ValidationError(
                _("The organisation's address must lie in its grid."), code="address_grid"
            )

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.territory_code = self.grid.code
        super().save(*args, **kwargs)
