"""manage.py load_case_catalogue: add the default 大类/小类 that are missing (never changes one
that exists; see jiedao/cases/catalogue.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from jiedao.cases.catalogue import catalogue_rows, load_default_catalogue


class Command(BaseCommand):
    help = (
        "Add the default case categories whose codes are missing. Existing categories, edited "
        "or not, are left unchanged; running it again changes nothing."
    )

    def handle(self, *args, verbosity: int, **options) -> None:
        result = load_default_catalogue(actor=None)
        kept = len(catalogue_rows()) - result.created
        if verbosity:
            self.stdout.write(
                self.style.SUCCESS(
                    _(
                        "Case catalogue: %(created)s categories created, %(kept)s already "
                        "present and left unchanged."
                    )
                    % {"created": result.created, "kept": kept}
                )
            )
