"""The baselines' nodes: CoT-Self-Instruct and Self-Instruct generators, assessment, consistency."""
