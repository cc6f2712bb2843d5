"""The one error the PKI raises: a sentence the user can act on."""


class PkiError(Exception):
    """A CA, certificate or key that cannot be used as asked; the message says what to do."""
