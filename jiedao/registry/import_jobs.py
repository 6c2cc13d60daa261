"""Import jobs (dry run, import) run in the background."""
