"""asyncrun."""
