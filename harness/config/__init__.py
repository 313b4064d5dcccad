"""What people write: task definitions, model configs, suites, prompt packs, and how those files are read."""
