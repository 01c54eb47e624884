"""sbatch's options as sbatch itself reads them, so that a profile's extra lines are judged by
what they mean, not by how they are spelled.

sbatch parses ``#SBATCH`` lines with ``getopt_long``: a long option may be abbreviated to any
unique prefix (``--ou`` is ``--output``), most options have a short form (``-o``), and a value
follows ``=`` or the next word. :func:`resolve` turns any accepted spelling into the option's
full name; :func:`parse_line` splits one profile line into (option, value); a line naming an
option glasskit or submitit sets is refused by the one check every job goes through
(:func:`glasskit.batch.cluster.check_sbatch_lines`).

:data:`LONG` is sbatch's option table (Slurm 22.05-24.05 manual pages); ``tests/test_hostile.py``
checks it holds every option the installed ``sbatch --help`` lists.
"""
from __future__ import annotations

import re

# long option -> takes a value ("required", "optional", "none")
_REQ, _OPT, _NONE = "required", "optional", "none"
LONG: dict[str, str] = {
    "account": _REQ, "acctg-freq": _REQ, "array": _REQ, "batch": _REQ, "bb": _REQ, "bbf": _REQ, "begin": _REQ,
    "chdir": _REQ, "cluster-constraint": _REQ, "clusters": _REQ, "comment": _REQ, "constraint": _REQ,
    "container": _REQ, "container-id": _REQ, "contiguous": _NONE, "core-spec": _REQ, "cores-per-socket": _REQ,
    "cpu-freq": _REQ, "cpus-per-gpu": _REQ, "cpus-per-task": _REQ, "deadline": _REQ, "delay-boot": _REQ,
    "dependency": _REQ, "distribution": _REQ, "error": _REQ, "exclude": _REQ, "exclusive": _OPT, "export": _REQ,
    "export-file": _REQ, "extra": _REQ, "extra-node-info": _REQ, "get-user-env": _OPT, "gid": _REQ,
    "gpu-bind": _REQ, "gpu-freq": _REQ, "gpus": _REQ, "gpus-per-node": _REQ, "gpus-per-socket": _REQ,
    "gpus-per-task": _REQ, "gres": _REQ, "gres-flags": _REQ, "help": _NONE, "hint": _REQ, "hold": _NONE,
    "ignore-pbs": _NONE, "input": _REQ, "job-name": _REQ, "kill-on-invalid-dep": _REQ, "licenses": _REQ,
    "mail-type": _REQ, "mail-user": _REQ, "mcs-label": _REQ, "mem": _REQ, "mem-bind": _REQ, "mem-per-cpu": _REQ,
    "mem-per-gpu": _REQ, "mincpus": _REQ, "network": _REQ, "nice": _OPT, "no-kill": _OPT, "no-requeue": _NONE,
    "nodefile": _REQ, "nodelist": _REQ, "nodes": _REQ, "ntasks": _REQ, "ntasks-per-core": _REQ,
    "ntasks-per-gpu": _REQ, "ntasks-per-node": _REQ, "ntasks-per-socket": _REQ, "open-mode": _REQ, "output": _REQ,
    "overcommit": _NONE, "oversubscribe": _NONE, "parsable": _NONE, "partition": _REQ, "power": _REQ,
    "prefer": _REQ, "priority": _REQ, "profile": _REQ, "propagate": _OPT, "qos": _REQ, "quiet": _NONE,
    "reboot": _NONE, "requeue": _NONE, "reservation": _REQ, "resv-ports": _OPT, "signal": _REQ,
    "sockets-per-node": _REQ, "spread-job": _NONE, "switches": _REQ, "test-only": _NONE, "thread-spec": _REQ,
    "threads-per-core": _REQ, "time": _REQ, "time-min": _REQ, "tmp": _REQ, "tres-per-task": _REQ, "uid": _REQ,
    "usage": _NONE, "use-min-nodes": _NONE, "verbose": _NONE, "version": _NONE, "wait": _NONE,
    "wait-all-nodes": _REQ, "wckey": _REQ, "wrap": _REQ,
}
SHORT: dict[str, str] = {
    "a": "array", "A": "account", "b": "begin", "B": "extra-node-info", "c": "cpus-per-task", "C": "constraint",
    "d": "dependency", "D": "chdir", "e": "error", "F": "nodefile", "G": "gpus", "h": "help", "H": "hold",
    "i": "input", "J": "job-name", "k": "no-kill", "L": "licenses", "m": "distribution", "M": "clusters",
    "n": "ntasks", "N": "nodes", "o": "output", "O": "overcommit", "p": "partition", "q": "qos", "Q": "quiet",
    "s": "oversubscribe", "S": "core-spec", "t": "time", "v": "verbose", "V": "version", "w": "nodelist",
    "W": "wait", "x": "exclude",
}

# options that decide what a job is, who runs it, where its output goes or whether it runs at
# all: a profile never sets them, whatever glasskit's or submitit's own script says
NEVER = {"array", "wrap", "chdir", "export", "export-file", "get-user-env", "uid", "gid", "output", "error",
         "input", "job-name", "help", "usage", "version", "test-only", "parsable", "wait", "hold", "batch",
         "container", "container-id", "open-mode", "signal", "requeue", "no-requeue"}

_LINE = re.compile(r"(--?)([A-Za-z][A-Za-z0-9-]*)(?:(=|\s+)(.*))?")
_VALUE = re.compile(r"[A-Za-z0-9_./:,@%+=-]+")


class SbatchOptionError(ValueError):
    """A profile line sbatch would not read as one plain option."""


def resolve(name: str, short: bool = False) -> str:
    """The full long name of an option spelled ``name`` (without dashes): a short option's
    letter, a long name, or a unique prefix of one, as getopt_long accepts them."""
    if short:
        if name not in SHORT:
            raise SbatchOptionError(f"-{name} is not an sbatch option")
        return SHORT[name]
    if name in LONG:
        return name
    matches = sorted(o for o in LONG if o.startswith(name))
    if not matches:
        raise SbatchOptionError(f"--{name} is not an sbatch option")
    if len(matches) > 1:
        raise SbatchOptionError(f"--{name} is ambiguous in sbatch ({', '.join('--' + m for m in matches[:6])}"
                                + (", ..." if len(matches) > 6 else "") + ")")
    return matches[0]


def parse_line(line: str) -> tuple[str, str | None]:
    """(full option name, value or None) of one extra ``#SBATCH`` line of a profile:
    ``--opt``, ``--opt=value``, ``--opt value``, ``-o value``, ``-ovalue``; the value plain."""
    if not isinstance(line, str):
        raise SbatchOptionError(f"{line!r} is not a line of text")
    m = _LINE.fullmatch(line.strip())
    if not m:
        raise SbatchOptionError(f"{line!r} is not '--option', '--option=value' or '-o value'")
    dashes, word, sep, value = m.groups()
    if dashes == "-":  # -o value, -ovalue (getopt: the letter, then its value glued or apart)
        letter, glued = word[0], word[1:]
        if glued and value:
            raise SbatchOptionError(f"{line!r}: one value per option")
        value = glued or value
        name = resolve(letter, short=True)
    else:
        name = resolve(word)
    kind = LONG[name]
    if sep == "=" and kind == _NONE:
        raise SbatchOptionError(f"{line!r}: --{name} takes no value (a flag is written --{name})")
    if value is not None and value != "":
        if kind == _NONE:
            raise SbatchOptionError(f"{line!r}: --{name} takes no value")
        if not _VALUE.fullmatch(value):
            raise SbatchOptionError(f"{line!r}: the value must be plain (letters, digits and _ . / : , @ % + = - only)")
    elif kind == _REQ:
        raise SbatchOptionError(f"{line!r}: --{name} needs a value")
    return name, (value or None)


def render(name: str, value: str | None) -> str:
    """The ``#SBATCH`` text of an option: a flag as a flag, a value after ``=``."""
    return f"--{name}" if value is None else f"--{name}={value}"


def directive_names(script: str) -> set[str]:
    """Full names of the options a rendered script sets in its ``#SBATCH`` lines."""
    out = set()
    for line in script.splitlines():
        if line.startswith("#SBATCH "):
            try:
                out.add(parse_line(line[len("#SBATCH "):])[0])
            except SbatchOptionError:
                continue
    return out


def spellings(name: str) -> list[str]:
    """Every spelling sbatch accepts for option ``name`` with a value ``v`` (or as a flag): each
    unique prefix, long and ``=`` or space separated, and its short form."""
    kind = LONG[name]
    prefixes = [name[:k] for k in range(1, len(name) + 1)
                if [o for o in LONG if o.startswith(name[:k])] == [name] or name[:k] == name]
    out = []
    for p in prefixes:
        if kind == _NONE:
            out.append(f"--{p}")
        else:
            out += [f"--{p}=v", f"--{p} v"] + ([f"--{p}"] if kind == _OPT else [])
    for letter, long in SHORT.items():
        if long == name:
            out += [f"-{letter}"] if kind == _NONE else [f"-{letter} v", f"-{letter}v"]
    return out


# environment variables the job's machinery reads: a profile's [env] never sets them (a profile
# that set SLURM_ARRAY_TASK_ID would make every array task run task 0's simulations)
RESERVED_ENV = re.compile(
    r"(SLURM|SBATCH|SALLOC|SRUN|SPANK|PMI|PMIX|HYDRA|MPIR|MPICH|MPIEXEC|OMPI|OPAL|PRTE|I_MPI|CRAY_MPICH"
    r"|LD|DYLD|BASH_FUNC|PYTHON|GLASSKIT|SUBMITIT|TORCHELASTIC)_.*"
    r"|BASH_ENV|ENV|SHELLOPTS|BASHOPTS|IFS|PS4|PROMPT_COMMAND|CDPATH|GLOBIGNORE|PATH|HOME|SHELL|USER|LOGNAME"
    r"|PYTHONPATH|PYTHONHOME|PYTHONSTARTUP|VIRTUAL_ENV|CONDA_PREFIX|TMPDIR"
    r"|OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS|NUMEXPR_NUM_THREADS|VECLIB_MAXIMUM_THREADS"
    r"|CUDA_VISIBLE_DEVICES|ROCR_VISIBLE_DEVICES|MASTER_ADDR|MASTER_PORT|RANK|LOCAL_RANK|WORLD_SIZE|LOCAL_WORLD_SIZE")


def reserved_env(name: str) -> bool:
    """True for a variable glasskit, Slurm, the MPI launcher, the loader, the shell or Python read
    (case-insensitively: the shell is case-sensitive, but a site's tools are not always)."""
    return bool(RESERVED_ENV.fullmatch(name.upper()))
