"""What every worker shares across packages: its Redis pool, background upkeep and
counted slots (used by limits, routing, the scheduler and the cache)."""
