"""lm-evaluation-harness interop: onkobench tasks exported as lm-eval tasks, lm-eval sample logs scored here."""
