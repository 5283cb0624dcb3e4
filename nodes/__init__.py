"""One node per file; see graphs/ for how they are wired."""
