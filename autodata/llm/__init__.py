"""The model layer: roles to chat models, the OpenAI-compatible client, retries, the embedded server, settings."""
