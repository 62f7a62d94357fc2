"""winback pipeline package."""
