"""The trainer package every test submits (toolbox.task; ``--mode`` picks the behaviour)."""
