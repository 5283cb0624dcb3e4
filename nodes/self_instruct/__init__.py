"""The Agentic Self-Instruct loop's own nodes: challenger, orchestrator, acceptance, refinement memory."""
