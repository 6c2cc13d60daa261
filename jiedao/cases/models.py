"""Cases (domain.md §3): the category catalogue, routing rules, the case and its event log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.core.crypto import blind_index
from jiedao.core.fields import EncryptedTextField
from jiedao.core.scopes import ScopedModel
from jiedao.territory.models import Department, Grid, Organisation, StandardAddress


class HandlerType(models.TextChoices):
    COMMUNITY = "community", _("Community workstation")
    STREET = "street", _("Street office section")
    DEPARTMENT = "department", _("District department")
    PROPERTY = "property", _("Property-management company")
    UTILITY = "utility", _("Utility")


# Handler types whose handler is a district department (a utility is a department of kind
# utility); the others are a territory unit (community or street), identified by its code.
DEPARTMENT_HANDLERS = frozenset({HandlerType.DEPARTMENT, HandlerType.UTILITY})


class Category(models.Model):
    """大类 (no parent) or 小类 (under a 大类). Cases are filed under a 小类."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=60)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("main category"),
    )
    deadline_days = models.PositiveSmallIntegerField(_("working days to resolve"), default=5)
    urgent_deadline_days = models.PositiveSmallIntegerField(
        _("working days to resolve when urgent"), default=1
    )
    extended_deadline_days = models.PositiveSmallIntegerField(
        _("working days to resolve with an approved extension"), default=15
    )
    acknowledge_minutes = models.PositiveIntegerField(_("minutes to acknowledge"), default=120)
    urgent_acknowledge_minutes = models.PositiveIntegerField(
        _("minutes to acknowledge when urgent"), default=30
    )
    contact_hours = models.PositiveSmallIntegerField(_("hours to contact the caller"), default=24)
    handler_type = models.CharField(
        _("default handler type"),
        max_length=16,
        choices=HandlerType.choices,
        default=HandlerType.COMMUNITY,
    )
    active = models.BooleanField(_("active"), default=True)
    # Open311 service definition attributes (GeoReport v2 "attribute" objects: code, variable,
    # datatype, required, description, order, values); the answers are kept on the case.
    attributes = models.JSONField(_("extra questions"), default=list, blank=True)

    class Meta:
        verbose_name = _("case category")
        verbose_name_plural = _("case categories")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_main(self) -> bool:
        return self.parent_id is None


class RoutingRule(models.Model):
    """Category × territory → handler type (and optionally the department). ``territory_code``
    is a district, street, community or grid code, blank for everywhere; ``category`` a 小类, a
    大类 (covers its 小类) or blank for every category. The most specific rule wins."""

    category = models.ForeignKey(
        Category,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="routing_rules",
        verbose_name=_("category"),
    )
    territory_code = models.CharField(_("territory"), max_length=24, blank=True, db_index=True)
    handler_type = models.CharField(_("handler type"), max_length=16, choices=HandlerType.choices)
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["territory_code", "category__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "territory_code"], name="unique_routing_rule"
            ),
            # NULL categories are distinct to the constraint above: one catch-all per territory.
            models.UniqueConstraint(
                fields=["territory_code"],
                condition=Q(category__isnull=True),
                name="unique_catch_all_routing_rule",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category or '*'} @ {self.territory_code or '*'} → {self.handler_type}"


class Channel(models.TextChoices):
    HOTLINE = "hotline", _("12345 hotline")
    WEB = "web", _("Resident web or mobile report")
    PATROL = "patrol", _("Grid-worker patrol")
    SERVICE_CENTRE = "service_centre", _("Street service centre")
    API = "api", _("Other system (API)")
    OPEN311 = "open311", _("Open311")


# Cases without a caller: a grid worker's own finding has nobody to contact or call back.
NO_CALLER_CHANNELS = frozenset({Channel.PATROL})
# Cases an operator types in for a caller: the operator is not the reporter.
OPERATOR_CHANNELS = frozenset({Channel.HOTLINE, Channel.SERVICE_CENTRE})


class Node(models.TextChoices):
    """The internal workflow node (domain.md §3)."""

    RECEIVED = "received", _("Received")
    REGISTERED = "registered", _("Registered")
    REJECTED = "rejected", _("Not registered")
    DISPATCHED = "dispatched", _("Dispatched")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    IN_PROGRESS = "in_progress", _("In progress")
    HANDLED = "handled", _("Handled")
    VERIFIED = "verified", _("Verified")
    CLOSED = "closed", _("Closed")
    MERGED = "merged", _("Merged into another case")


# Nodes where the case is in a handler's hands: exactly one handler, and only then.
HANDLER_NODES = frozenset(
    {Node.DISPATCHED, Node.ACKNOWLEDGED, Node.IN_PROGRESS, Node.HANDLED, Node.VERIFIED}
)
# No action leads out of these (a merged case is answered when the case it joined closes).
FINAL_NODES = frozenset({Node.CLOSED, Node.REJECTED, Node.MERGED})


class PublicStatus(models.TextChoices):
    """Open311's two values."""

    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class DeliveryState(models.TextChoices):
    """Whether the source system has been told of the latest change (cases from other systems)."""

    NONE = "none", _("Not applicable")
    PENDING = "pending", _("Waiting to be sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class Rating(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")
    MOSTLY_SATISFIED = "mostly_satisfied", _("Mostly satisfied")
    DISSATISFIED = "dissatisfied", _("Dissatisfied")


class ExtensionState(models.TextChoices):
    NONE = "", _("No extension")
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")


# The caller's contact (domain.md §10): field → mask kind. Encrypted at rest, masked by
# default, revealed with a reason (services.reveal_contact).
CALLER_FIELDS = {"caller_name": "name", "caller_phone": "phone"}
# Kept out of audit snapshots: the encrypted fields (snapshot drops them anyway) and the blind
# index, which would let a reader of the trail link the cases of one caller.
PRIVATE_FIELDS = (*CALLER_FIELDS, "caller_phone_index")


class Case(ScopedModel):
    """One request or finding. ``territory_code`` is its grid's code."""

    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="cases", verbose_name=_("category")
    )
    description = models.TextField(_("description"))
    urgent = models.BooleanField(_("urgent"), default=False)
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="cases")
    community_code = models.CharField(max_length=24, db_index=True, editable=False)
    street_code = models.CharField(max_length=24, db_index=True, editable=False)
    lng = models.FloatField(_("longitude (WGS-84)"), null=True, blank=True)
    lat = models.FloatField(_("latitude (WGS-84)"), null=True, blank=True)
    address = models.ForeignKey(
        StandardAddress,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("standard address"),
    )
    # Encrypted at rest (docs/personal-data.md); the phone is found through its blind index,
    # which save() keeps in step with it.
    caller_name = EncryptedTextField(_("caller's name"), kind="name")
    caller_phone = EncryptedTextField(
        _("caller's phone"), kind="phone", blind_index_field="caller_phone_index"
    )
    caller_phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    anonymous = models.BooleanField(_("anonymous"), default=False)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_cases",
    )
    # Idempotency: a retried submission from the same system finds the first case.
    source_system = models.CharField(_("source system"), max_length=60, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, blank=True)
    external_id = models.CharField(_("id in the source system"), max_length=120, blank=True)
    attributes = models.JSONField(_("answers to the extra questions"), default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="followers",
        verbose_name=_("merged into"),
    )

    # The three axes.
    node = models.CharField(
        _("workflow node"), max_length=16, choices=Node.choices, default=Node.RECEIVED
    )
    public_status = models.CharField(
        _("status"), max_length=8, choices=PublicStatus.choices, default=PublicStatus.OPEN
    )
    delivery_state = models.CharField(
        _("delivery"), max_length=12, choices=DeliveryState.choices, default=DeliveryState.NONE
    )

    # The one current handler: a department, or a territory unit (community or street code).
    handler_type = models.CharField(
        _("handler type"), max_length=16, choices=HandlerType.choices, blank=True
    )
    handler_department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("handling department"),
    )
    handler_unit_code = models.CharField(_("handling unit"), max_length=24, blank=True)
    handler_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("property-management company"),
    )

    # The last handler, kept after closing (the current one is cleared): metrics group closed
    # cases by it, and the department that handled a case still sees it.
    last_handler_type = models.CharField(max_length=16, choices=HandlerType.choices, blank=True)
    last_handler_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_handler_unit_code = models.CharField(max_length=24, blank=True)

    created_at = models.DateTimeField(_("received at"), auto_now_add=True)
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    contacted_at = models.DateTimeField(_("caller contacted at"), null=True, blank=True)
    # Set by the sweeper once it has escalated the case, so each escalation happens once.
    acknowledge_escalated_at = models.DateTimeField(
        _("escalated as not acknowledged at"), null=True, blank=True
    )
    overdue_escalated_at = models.DateTimeField(_("escalated as overdue at"), null=True, blank=True)
    acknowledge_due = models.DateTimeField(_("acknowledge by"), null=True, blank=True)
    contact_due = models.DateTimeField(_("contact the caller by"), null=True, blank=True)
    resolve_due = models.DateTimeField(_("resolve by"), null=True, blank=True)
    deadline_note = models.CharField(_("how the deadline was counted"), max_length=300, blank=True)

    extension = models.CharField(
        _("extension"), max_length=12, choices=ExtensionState.choices, blank=True
    )
    rating = models.CharField(_("rating"), max_length=20, choices=Rating.choices, blank=True)
    # 解决率 counts the rated cases the caller says are solved (domain.md §3).
    solved = models.BooleanField(_("solved in the caller's view"), null=True, blank=True)
    rejection_reason = models.CharField(_("reason not registered"), max_length=300, blank=True)
    return_count = models.PositiveSmallIntegerField(_("returns"), default=0)
    rework_count = models.PositiveSmallIntegerField(_("reworks"), default=0)
    reopen_count = models.PositiveSmallIntegerField(_("reopenings"), default=0)

    class Meta(ScopedModel.Meta):
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["node", "resolve_due"], name="case_node_due"),
            models.Index(fields=["node", "acknowledge_due"], name="case_node_ack_due"),
            models.Index(fields=["category", "created_at"], name="case_category_created"),
            models.Index(fields=["street_code", "created_at"], name="case_street_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_case_idempotency_key",
            ),
            # Exactly one handler while the case is in handling, none otherwise.
            models.CheckConstraint(
                condition=(
                    Q(
                        handler_type="",
                        handler_department__isnull=True,
                        handler_unit_code="",
                        handler_organisation__isnull=True,
                    )
                    & ~Q(node__in=sorted(HANDLER_NODES))
                )
                | (
                    Q(
                        handler_type__in=sorted(DEPARTMENT_HANDLERS),
                        handler_department__isnull=False,
                        handler_unit_code="",
                        handler_organisation__isnull=True,
                    )
                    & Q(node__in=sorted(HANDLER_NODES))
                )
                | (
                    ~Q(handler_type__in=["", *sorted(DEPARTMENT_HANDLERS)])
                    & Q(handler_department__isnull=True)
                    & ~Q(handler_unit_code="")
                    & (Q(handler_organisation__isnull=True) | Q(handler_type=HandlerType.PROPERTY))
                    & Q(node__in=sorted(HANDLER_NODES))
                ),
                name="case_one_handler_in_handling",
            ),
            models.CheckConstraint(
                condition=~Q(node=Node.CLOSED) | Q(verified_at__isnull=False),
                name="case_closed_after_verified",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.category.name}" if self.pk else str(_("new case"))

    def save(self, *args, **kwargs):
        self.territory_code = self.grid.code
        self.community_code = self.grid.code[:12]
        self.street_code = self.grid.code[:9] + "000"
        self.caller_phone_index = blind_index("phone", self.caller_phone or "")
        closed = self.node in (Node.CLOSED, Node.REJECTED) or (
            self.node == Node.MERGED and self.closed_at is not None
        )
        self.public_status = PublicStatus.CLOSED if closed else PublicStatus.OPEN
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("cases:detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.node in FINAL_NODES

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return (
            self.resolve_due is not None
            and self.node not in FINAL_NODES
            and self.node != Node.VERIFIED
            and self.resolve_due < timezone.now()
        )

    @property
    def handler_label(self) -> str:
        from jiedao.territory.selectors import unit_name

        if self.handler_department_id:
            return str(self.handler_department)
        return unit_name(self.handler_unit_code) if self.handler_unit_code else ""


class CaseEvent(ScopedModel):
    """One transition (or the intake): who, when, from which node to which, and why."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(_("action"), max_length=24)
    from_node = models.CharField(_("from node"), max_length=16, choices=Node.choices, blank=True)
    to_node = models.CharField(_("to node"), max_length=16, choices=Node.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acted by"),
    )
    actor_label = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(_("time"), auto_now_add=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["case", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.from_node or '-'} → {self.to_node} ({self.action})"

    def save(self, *args, **kwargs):
        self.territory_code = self.case.territory_code
        super().save(*args, **kwargs)


def attachment_path(instance: CaseAttachment, filename: str) -> str:
    # Random names: the uploader's file name is kept in ``original_name`` only.
    import uuid

    return f"cases/{instance.case_id}/{uuid.uuid4().hex}{instance.extension}"


class CaseAttachment(ScopedModel):
    """A photo on a case (the report, the handling result, the verification). Served only
    through the case's pages to those who may see the case, never as public media."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    event = models.ForeignKey(
        CaseEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200, blank=True)
    content_type = models.CharField(max_length=60)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField(_("size in bytes"))
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["case", "uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.original_name or str(self.file.name)

    def save(self, *args, **kwargs):
        self.territory_code = self.case.territory_code
        super().save(*args, **kwargs)


class Summons(ScopedModel):
    """吹哨报到: the street summons a district department to a case. The department must 报到
    (report: acknowledge and join) by ``report_due`` and record its part by ``part_due``."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="summonses")
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="summonses", verbose_name=_("department")
    )
    reason = models.TextField(_("why the department is needed"))
    summoned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    summoned_at = models.DateTimeField(_("summoned at"), auto_now_add=True)
    report_due = models.DateTimeField(_("report (报到) by"))
    part_due = models.DateTimeField(_("record its part by"))
    reported_at = models.DateTimeField(_("reported (报到) at"), null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    part = models.TextField(_("what the department did"), blank=True)
    part_recorded_at = models.DateTimeField(_("part recorded at"), null=True, blank=True)
    # Set by the sweeper when it flags a missing 报到 or part, so each flag is raised once.
    report_flagged_at = models.DateTimeField(null=True, blank=True)
    part_flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("summons (吹哨)")
        verbose_name_plural = _("summonses (吹哨)")
        ordering = ["case", "summoned_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "department"], name="one_summons_per_department"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.case_id} → {self.department}"

    def save(self, *args, **kwargs):
        self.territory_code = self.case.territory_code
        super().save(*args, **kwargs)

    @property
    def reported_late(self) -> bool:
        return self.reported_at is not None and self.reported_at > self.report_due

    @property
    def part_late(self) -> bool:
        return self.part_recorded_at is not None and self.part_recorded_at > self.part_due

    @property
    def report_overdue(self) -> bool:
        from django.utils import timezone

        return self.reported_at is None and self.report_due < timezone.now()

    @property
    def part_overdue(self) -> bool:
        from django.utils import timezone

        return self.part_recorded_at is None and self.part_due < timezone.now()


class GridIndexGeneration(models.Model):
    """One row whose token changes whenever a grid does (see ``gridindex.py``)."""

    token = models.CharField(max_length=32)

    def __str__(self) -> str:
        return self.token
