"""The meta-optimizer's application side: budgets, splits, selection, digests, memory, outputs, the run."""
