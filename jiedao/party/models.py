"""Party organisation (domain.md §6)."""
