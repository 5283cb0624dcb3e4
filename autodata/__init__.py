"""Autodata: Agentic Self-Instruct on LangGraph."""

__version__ = "0.1.0"
