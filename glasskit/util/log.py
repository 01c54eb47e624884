"""glasskit's logger: to stderr, each line stamped with UTC time (to line up with the
scheduler's accounting and the LAMMPS logs of a long task); the CLI sets the level."""
import logging
import time

logger = logging.getLogger("glasskit")

FORMAT = "%(asctime)s glasskit: %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%SZ"


def formatter() -> logging.Formatter:
    f = logging.Formatter(FORMAT, DATEFMT)
    f.converter = time.gmtime  # UTC, whatever TZ says
    return f


def setup(verbose: bool = False, quiet: bool = False) -> None:
    """``verbose``: debug lines too; ``quiet``: warnings and errors only."""
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(formatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
