"""Nodes and helpers more than one pipeline uses: solver, scoring of samples, quality verifier, end filter, judge, verifier."""
