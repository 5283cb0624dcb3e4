"""Typed state and schemas shared by nodes and graphs: schemas, policy, context, graph state."""
