"""`python -m pipelines.cli` runs the same CLI as the `rooftop` script."""

from pipelines.cli import main

main()
