"""The `omnibus` command line: its arguments (args.py), the verb table (verbs.py), text
renderings (report.py) and the entry point (main.py, `omnibus = builder.cli.main:main`)."""
