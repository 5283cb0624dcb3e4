"""The batch engine: batch runs of a task's graph, the run directory, checkpoints, corpus, dedup, costs, grading."""
