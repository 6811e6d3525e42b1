"""`python -m iqa_cli` runs the CLI."""

from iqa_cli.cli import main

if __name__ == "__main__":
    main()
