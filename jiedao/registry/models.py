"""Actual population (实有人口) and housing use: persons, registered and residing households,
tenancies, care tags, 人户分离 reconciliation, door-to-door verification and visits, imports.

Identity numbers, phones and free-text addresses are encrypted at rest (domain.md §10); their
blind-index columns make exact search possible without decrypting the table."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.core.fields import EncryptedTextField
from jiedao.core.scopes import ScopedModel
from jiedao.territory.models import Dwelling


class Household(ScopedModel):
    """户: a registered household (户籍户, from the public-security extract, with its 户号) or a
    residing household (居住户, the people who actually live in a dwelling, from the survey)."""

    class Kind(models.TextChoices):
        REGISTERED = "registered", _("Registered household (户籍户)")
        RESIDING = "residing", _("Residing household (居住户)")

    dwelling = models.ForeignKey(Dwelling, on_delete=models.PROTECT, related_name="households")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RESIDING)
    number = models.CharField(_("household number (户号)"), max_length=32, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "number"],
                condition=~Q(number=""),
                name="unique_household_number",
            )
        ]

    def __str__(self) -> str:
        return f"{self.dwelling} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        self.territory_code = self.dwelling.territory_code
        super().save(*args, **kwargs)


class Residence(models.TextChoices):
    """人户分离 classification of one person (domain.md §2)."""

    CONSISTENT = "consistent", _("Registered and living here (人户一致)")
    LIVES_NOT_REGISTERED = (
        "lives_not_registered",
        _("Lives here, registered elsewhere (人在户不在)"),
    )
    REGISTERED_NOT_LIVING = (
        "registered_not_living",
        _("Registered here, lives elsewhere (户在人不在)"),
    )
    GONE = "gone", _("Neither lives nor is registered here")
    UNKNOWN = "unknown", _("Not yet classified")


class Person(ScopedModel):
    """One person of the actual population. ``dwelling``/``household`` say where they live (the
    door-to-door survey or a grid worker), ``registered_dwelling``/``registered_household`` where
    their 户籍 is (the public-security extract). The record hangs off where they live, or, when
    they live elsewhere, off their registered dwelling."""

    class Sex(models.TextChoices):
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")

    class Relation(models.TextChoices):
        HEAD = "head", _("Head of household")
        SPOUSE = "spouse", _("Spouse")
        CHILD = "child", _("Child")
        PARENT = "parent", _("Parent")
        GRANDCHILD = "grandchild", _("Grandchild")
        OTHER = "other", _("Other relative or lodger")

    name = models.CharField(_("full name"), max_length=40)
    initials = models.CharField(max_length=16, db_index=True, editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("date of birth"))
    identity_number = EncryptedTextField(
        _("identity number"), kind="identity", blind_index_field="identity_index"
    )
    identity_index = models.CharField(max_length=64, blank=True, editable=False)
    phone = EncryptedTextField(_("phone"), kind="phone", blind_index_field="phone_index")
    phone_index = models.CharField(max_length=64, blank=True, editable=False)
    registered_address = EncryptedTextField(_("registered address"), kind="address")
    relation = models.CharField(
        _("relation to the head"), max_length=16, choices=Relation.choices, blank=True
    )
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
        verbose_name=_("residing household"),
    )
    dwelling = models.ForeignKey(
        Dwelling,
        on_delete=models.PROTECT,
        related_name="residents",
        null=True,
        blank=True,
        verbose_name=_("lives at"),
    )
    registered_household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        related_name="registered_members",
        null=True,
        blank=True,
        verbose_name=_("registered household"),
    )
    registered_dwelling = models.ForeignKey(
        Dwelling,
        on_delete=models.PROTECT,
        related_name="registered_persons",
        null=True,
        blank=True,
        verbose_name=_("registered dwelling"),
    )
    residence = models.CharField(
        _("人户分离 status"),
        max_length=24,
        choices=Residence.choices,
        default=Residence.UNKNOWN,
    )
    # A door-to-door finding outranks both sources until a newer import says otherwise.
    verified_residence = models.CharField(
        _("verified status"), max_length=24, choices=Residence.choices, blank=True
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    # Digest of the last imported row of each source: an unchanged row is skipped on re-import.
    registry_digest = models.CharField(max_length=64, blank=True, editable=False)
    survey_digest = models.CharField(max_length=64, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta(ScopedModel.Meta):
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["id"]
        # Equality lookups only: plain indexes, without PostgreSQL's extra LIKE (_like) copies,
        # which every reclassification of a million persons would also have to rewrite.
        indexes = [
            models.Index(fields=["identity_index"], name="person_identity_index"),
            models.Index(fields=["phone_index"], name="person_phone_index"),
            models.Index(fields=["residence"], name="person_residence"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["identity_index"],
                condition=~Q(identity_index=""),
                name="unique_person_identity",
            ),
            models.CheckConstraint(
                condition=Q(dwelling__isnull=False) | Q(registered_dwelling__isnull=False),
                name="person_lives_or_is_registered_somewhere",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from jiedao.core.pinyin import initials

        self.initials = initials(self.name)[:16]
        home = self.dwelling or self.registered_dwelling
        if home is not None:  # none at all: the check constraint refuses the row
            self.territory_code = home.territory_code
        super().save(*args, **kwargs)


class PersonVersion(ScopedModel):
    """One change to a person (field form, import, verification, office): who, when, what.
    Sensitive fields are recorded as changed, never with their values (domain.md §10)."""

    class Source(models.TextChoices):
        FIELD = "field", _("Grid worker in the field")
        OFFICE = "office", _("Office")
        IMPORT = "import", _("Import")
        VERIFICATION = "verification", _("Door-to-door verification")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=Source.choices)
    changes = models.JSONField(default=dict)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(ScopedModel.Meta):
        ordering = ["person", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["person", "version"], name="unique_person_version")
        ]


class Tenancy(ScopedModel):
    """A rented dwelling's tenancy (租赁): who rents it, from when to when."""

    dwelling = models.ForeignKey(Dwelling, on_delete=models.PROTECT, related_name="tenancies")
    household = models.ForeignKey(
        Household, on_delete=models.SET_NULL, null=True, blank=True, related_name="tenancies"
    )
    landlord_name = models.CharField(_("landlord"), max_length=40, blank=True)
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"), null=True, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("tenancy")
        verbose_name_plural = _("tenancies")
        ordering = ["-starts_on"]

    def save(self, *args, **kwargs):
        self.territory_code = self.dwelling.territory_code
        super().save(*args, **kwargs)


class CareGroup(models.TextChoices):
    ELDERLY_ALONE = "elderly_alone", _("Elderly living alone (独居老人)")
    DISABLED = "disabled", _("Disabled (残疾人)")
    SUBSISTENCE = "subsistence", _("Subsistence allowance (低保)")
    VETERAN = "veteran", _("Veteran (退役军人)")
    MINOR_IN_DIFFICULTY = "minor", _("Minor in difficulty (困境儿童)")
    FLOATING = "floating", _("Floating population (流动人口)")
    UNEMPLOYED_4050 = "4050", _("“4050” unemployed")
    PARTY_MEMBER = "party_member", _("Party member (党员)")
    VOLUNTEER = "volunteer", _("Volunteer (志愿者)")


class CareTag(ScopedModel):
    """A person's membership of a care group; ``visit_every_days`` sets a visit schedule (e.g. 7
    for a weekly visit to an elderly person living alone)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="care_tags")
    group = models.CharField(_("group"), max_length=16, choices=CareGroup.choices)
    since = models.DateField(_("since"), default=timezone.localdate)
    visit_every_days = models.PositiveSmallIntegerField(
        _("visit every (days)"), null=True, blank=True
    )
    last_visit_at = models.DateTimeField(_("last visit"), null=True, blank=True)
    next_visit_due = models.DateField(_("next visit due"), null=True, blank=True, db_index=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("care tag")
        verbose_name_plural = _("care tags")
        ordering = ["next_visit_due", "id"]
        constraints = [models.UniqueConstraint(fields=["person", "group"], name="unique_care_tag")]

    def save(self, *args, **kwargs):
        self.territory_code = self.person.territory_code
        super().save(*args, **kwargs)


class Visit(ScopedModel):
    """走访: a visit to a person or household, with what was found."""

    class Kind(models.TextChoices):
        CARE = "care", _("Care visit")
        VERIFICATION = "verification", _("Door-to-door verification")
        ROUTINE = "routine", _("Routine visit")

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="visits", null=True, blank=True
    )
    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="visits", null=True, blank=True
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ROUTINE)
    visited_at = models.DateTimeField(_("visited at"), default=timezone.now, db_index=True)
    visited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-visited_at"]

    def save(self, *args, **kwargs):
        owner = self.person or self.household
        if owner is not None:
            self.territory_code = owner.territory_code
        super().save(*args, **kwargs)


class Verification(ScopedModel):
    """A 人户分离 mismatch on a grid worker's worklist; the door-to-door result feeds back into the
    person's classification (``Person.verified_residence``)."""

    class State(models.TextChoices):
        OPEN = "open", _("To verify")
        DONE = "done", _("Verified")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="verifications")
    state = models.CharField(
        _("state"), max_length=8, choices=State.choices, default=State.OPEN, db_index=True
    )
    found = models.CharField(_("status before"), max_length=24, choices=Residence.choices)
    result = models.CharField(_("result"), max_length=24, choices=Residence.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(ScopedModel.Meta):
        verbose_name = _("verification")
        verbose_name_plural = _("verifications")
        ordering = ["state", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(state="open"),
                name="one_open_verification_per_person",
            )
        ]


class ReconciliationSnapshot(ScopedModel):
    """Counts of one territory node (community or grid) on one day: the trend of 人户分离."""

    taken_on = models.DateField(default=timezone.localdate)
    persons = models.PositiveIntegerField(default=0)
    consistent = models.PositiveIntegerField(default=0)
    lives_not_registered = models.PositiveIntegerField(default=0)
    registered_not_living = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    registered_households = models.PositiveIntegerField(default=0)
    consistent_households = models.PositiveIntegerField(default=0)

    class Meta(ScopedModel.Meta):
        ordering = ["territory_code", "taken_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["territory_code", "taken_on"], name="unique_reconciliation_snapshot"
            )
        ]


class ImportJob(ScopedModel):
    """One uploaded file of a source, from upload through mapping and dry run to import.
    ``territory_code`` is the node the importer chose (the rows must lie inside it)."""

    class Source(models.TextChoices):
        REGISTRY = "registry", _("Public-security household-registration extract")
        SURVEY = "survey", _("Door-to-door survey")

    class State(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded: map the columns")
        CHECKING = "checking", _("Dry run in progress")
        CHECKED = "checked", _("Dry run done: confirm to import")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.UPLOADED
    )
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    # Rows before this one (data row number, 1-based) are committed: a restart resumes here.
    checkpoint_row = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]


class ImportRowError(models.Model):
    """One bad row of a dry run (or of the import): row number, column and reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=255)

    class Meta:
        ordering = ["row", "id"]

    def __str__(self) -> str:
        return f"{self.row}: {self.reason}"
