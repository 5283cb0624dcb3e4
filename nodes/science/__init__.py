"""The science pipeline's nodes: parallel challengers, screen, solver, answer check, diagnosis, decision."""
