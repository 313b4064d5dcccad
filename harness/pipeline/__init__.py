"""A run end to end: plan (resolve everything first), chains (inputs from an earlier step), run (generate and score), outputs_file (score outputs produced elsewhere)."""
