"""人户分离 reconciliation."""
