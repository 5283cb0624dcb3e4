"""The legal pipeline's nodes: extractor, writer, grading, loop judge, diagnosis, a person's review, decision."""
