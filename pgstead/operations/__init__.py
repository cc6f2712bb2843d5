"""pgstead's pyinfra operations: each reads a fact and yields only the difference."""
