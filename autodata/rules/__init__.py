"""Rules decided in code: scoring and answer equivalence, format and shape rules, grounding."""
