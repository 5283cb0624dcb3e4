"""Shipped prompt files (markdown + Jinja2). The meta-optimizer edits copies, never these."""
