"""Prompt files: the library, the Jinja sandbox they render in, and the meta-optimizer's prompt versions."""
