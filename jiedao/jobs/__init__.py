"""Background jobs on Django's Tasks API: retries, periodic jobs, worker recovery.

Use ``from jiedao.jobs.base import job, periodic``; see docs/operations.md.
"""
