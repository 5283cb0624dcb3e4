"""The meta-optimizer's nodes: seed, parent selection, minibatch, analyzer, implementer, edit checks, validation, keep."""
