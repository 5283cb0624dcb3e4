"""The legal pipeline's nodes: extractor, writer, grading, loop judge, diagnosis, decision."""
