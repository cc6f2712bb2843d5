"""Pure renderers: configuration files made from the Environment, byte for byte repeatable."""
