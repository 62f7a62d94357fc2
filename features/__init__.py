"""winback features package."""
