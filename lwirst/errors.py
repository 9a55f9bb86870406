"""The one exception type users see: a readable message naming the problem and the fix."""


class LwirstError(Exception):
    """A problem with user input (file, path, config, checkpoint) explained in one line."""


class MetricInputError(LwirstError, ValueError):
    """What a metric cannot score (shapes that differ, NaN, a colour image as a mask): a ValueError, as it
    always was, and a LwirstError, which code catching lwirst's errors expects."""


class NonFiniteOutput(LwirstError):
    """A network gave NaN or infinite logits: a broken file, or a training run that diverged."""


class OptionsConflict(LwirstError):
    """Options that cannot hold together (--scale-min above --scale-max): a usage error, exit code 2, as an
    out-of-range value is."""


def renamed(exc: Exception, path: object, name: str) -> LwirstError:
    """`exc` as a LwirstError naming a file by `name`, as its reader knows it (an upload's name, a run's label),
    not by the path it was read from (a server's scratch copy)."""
    return LwirstError(str(exc).replace(str(path), name))
