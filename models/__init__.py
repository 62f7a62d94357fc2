"""winback models package."""
