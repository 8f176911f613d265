"""An example third-party Rooftop connector package (docs/adding-a-connector.md): one source, `example_tickets`.

Rooftop finds it through the `rooftop.sources` entry point declared in this package's pyproject.toml;
nothing in Rooftop names it.
"""
