"""Small helpers shared by the bench/ scripts: tables, results files, measured child runs."""
