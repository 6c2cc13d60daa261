"""manage.py demo_world: generate the demo street (see jiedao/demo/world.py and docs)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from jiedao.core.scopes import unscoped
from jiedao.demo.logins import login_table
from jiedao.demo.world import Plan, WorldBuilder
from jiedao.territory.models import Street

# 11 communities per unit of scale; a street has at most 999 three-digit community codes.
MAX_SCALE = 90


class Command(BaseCommand):
    help = "Generate a believable demo street (香水园街道), deterministic from a seed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="1 = 11 communities, 302 residential buildings, ~15,000 households, ~45,000 people "
            "and ~8,000 cases over the last year; 10 = ten times the people, buildings, "
            "communities and cases; 0.05 for tests",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if a street already exists"
        )

    def handle(
        self, *args, seed: int, scale: float, if_empty: bool, verbosity: int, **options
    ) -> None:
        with unscoped():
            exists = Street.all_objects.exists()
        if exists and if_empty:
            self.stdout.write(_("A street already exists: demo world not generated."))
            return
        if exists:
            raise CommandError(_("A street already exists. Use --if-empty, or a fresh database."))
        if not 0 < scale <= MAX_SCALE:
            raise CommandError(
                _("--scale must be above 0 and at most %(max)s.") % {"max": MAX_SCALE}
            )
        started = time.perf_counter()
        progress = self.stdout.write if verbosity > 1 else None
        builder = WorldBuilder(Plan.for_scale(seed, scale), progress=progress)
        counts = builder.build()
        elapsed = time.perf_counter() - started
        if verbosity:
            self._report(counts.values, counts.rows, elapsed, builder.skipped_users)

    def _report(
        self, counts: dict[str, int], rows: int, elapsed: float, skipped: list[str]
    ) -> None:
        summary = ", ".join(f"{name} {n:,}" for name, n in counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                _("Demo world generated in %(s).1f s (%(rows)s rows).")
                % {"s": elapsed, "rows": f"{rows:,}"}
            )
        )
        self.stdout.write(summary)
        if skipped:
            self.stdout.write(
                self.style.WARNING(_("Existing accounts left unchanged: %s") % ", ".join(skipped))
            )
        self.stdout.write("")
        self.stdout.write(login_table())
