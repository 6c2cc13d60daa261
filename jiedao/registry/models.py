"""Actual population (实有人口), the minimum the territory needs to derive households and
population. The population registry issue adds identity numbers, encryption and 人户分离."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from jiedao.core.scopes import ScopedModel
from jiedao.territory.models import Dwelling


class Household(ScopedModel):
    class Kind(models.TextChoices):
        REGISTERED = "registered", _("Registered household (户籍户)")
        RESIDING = "residing", _("Residing household (居住户)")

    dwelling = models.ForeignKey(Dwelling, on_delete=models.PROTECT, related_name="households")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RESIDING)

    class Meta(ScopedModel.Meta):
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.dwelling} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        self.territory_code = self.dwelling.territory_code
        super().save(*args, **kwargs)


class Person(ScopedModel):
    class Sex(models.TextChoices):
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")

    name = models.CharField(_("name"), max_length=40)
    initials = models.CharField(max_length=16, db_index=True, editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("date of birth"))
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="members")
    dwelling = models.ForeignKey(Dwelling, on_delete=models.PROTECT, related_name="residents")

    class Meta(ScopedModel.Meta):
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from jiedao.core.pinyin import initials

        self.initials = initials(self.name)
        self.territory_code = self.dwelling.territory_code
        super().save(*args, **kwargs)
