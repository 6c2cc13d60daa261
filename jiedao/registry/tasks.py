"""Background jobs of the registry (discovered by jiedao.jobs): imports and reconciliation."""

from jiedao.registry import import_jobs, reconciliation  # noqa: F401
