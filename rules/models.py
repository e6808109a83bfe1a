"""Rule definitions arrive with the rules engine."""
