"""GRPO recipe files (TOML), read by `autodata.training.recipe`."""
