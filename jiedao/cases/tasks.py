"""Background jobs of the cases app (found by the jobs app's autodiscovery of ``tasks``)."""

from jiedao.cases import sweeper  # noqa: F401  (registers the periodic "cases.sweeper" job)
