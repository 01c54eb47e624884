"""glasskit's logger: one prefix, to stderr; the CLI sets the level."""
import logging

logger = logging.getLogger("glasskit")


def setup(verbose: bool = False) -> None:
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("glasskit: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
