"""GRPO training (TRL) and evaluation on the items of a run directory.

`training.data` turns a run directory into a deterministic train/test split of chat prompts,
`training.rewards` scores completions (math equivalence, or the judge model against the item's rubric),
`training.recipes` holds the config files, `training.grpo` runs TRL's GRPOTrainer, `training.evaluate`
reports mean@k, best@k and the truncation rate per task; `autodata train` / `eval` are in
`autodata.commands.train`. Heavy imports (torch, transformers, trl) happen inside functions so the CLI starts fast.
"""
