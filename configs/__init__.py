"""Shipped configuration files (`autodata demo` reads embedded-demo.toml from here)."""
