"""Reference pages generated from the code that defines them, at every docs build (docs/conf.py):
the HDF5 schema (glasskit.campaign.schema), the spec keys (glasskit.campaign.spec, the checks
that load them), the cluster-profile keys (glasskit.batch.cluster) and the model settings
(glasskit.ml.config). Nothing here is written by hand, so the pages cannot drift from the code."""
from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import h5py


def _rst_table(header: list[str], rows: list[list[str]], widths: str | None = None) -> str:
    out = [".. list-table::", "   :header-rows: 1", "   :widths: " + (widths or " ".join(["1"] * len(header))), ""]
    for row in [header, *rows]:
        out.append("   * - " + _cell(row[0]))
        out += [f"     - {_cell(c)}" for c in row[1:]]
    return "\n".join(out) + "\n"


def _cell(text) -> str:
    return str(text).replace("\n", " ").strip() or "--"


def _text(text) -> str:
    """Free text (a comment, a description) with reST's markup characters escaped."""
    return re.sub(r"([*|`_\\])", r"\\\1", str(text)) if text else "--"


def _type(hint) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return text or str(hint).replace("typing.", "")


def _source_comments(cls) -> dict[str, str]:
    """``name: type = default  # comment`` lines of a dataclass: name -> comment."""
    out = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _toml_comments(path: Path) -> dict[str, str]:
    """``table.key`` -> the trailing comment (and its continuation lines) in a shipped TOML file."""
    out, table, last = {}, "", None
    for line in path.read_text().splitlines():
        head = re.match(r"\s*\[\[?([\w.]+)\]\]?", line)
        if head:
            table, last = head.group(1), None
            continue
        m = re.match(r"\s*#?\s*(\w+)\s*=[^#]*(?:#\s*(.*))?$", line)
        if m and not line.lstrip().startswith("# ") and "=" in line:
            last = f"{table}.{m.group(1)}"
            if m.group(2):
                out[last] = m.group(2).strip()
            continue
        cont = re.match(r"\s{8,}#\s*(.*)$", line)
        if cont and last in out:
            out[last] += " " + cont.group(1).strip()
        else:
            last = None if not line.strip() else last
    return out


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        v = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        v = f.default_factory()  # type: ignore[misc]
    else:
        return "required"
    if dataclasses.is_dataclass(v):
        return "table"
    return "``" + repr(list(v) if isinstance(v, tuple) else v) + "``"


def schema_page() -> str:
    from glasskit.campaign import schema
    lines = ["HDF5 datasets and attributes", "============================", "",
             "Generated from :mod:`glasskit.campaign.schema`, the table the writers use and "
             "``glasskit verify`` checks. Every dataset below carries the attributes ``units`` and "
             "``long_name`` and HDF5 dimension labels; codes are HDF5 enums.", "",
             "Root attributes of every shard and campaign file", "-------------------------------------------------", ""]
    lines.append(_rst_table(["attribute", "value"], [[f"``{k}``", _text(v)] for k, v in schema.ROOT_ATTRS.items()], "1 4"))
    lines += ["Datasets", "--------", ""]
    rows = []
    for name, fld in schema.FIELDS.items():
        enum = h5py.check_enum_dtype(fld.dtype) if fld.dtype is not None else None
        kind = "enum " + ", ".join(f"{k} = {v}" for k, v in sorted(enum.items(), key=lambda kv: kv[1])) if enum else ""
        extra = "; ".join(f"{k}: {v}" for k, v in fld.extra.items())
        rows.append([f"``/{name}``", ", ".join(fld.dims), f"``{fld.units}``" if fld.units else "--",
                     _text(fld.long_name + (f" ({kind})" if kind else "") + (f" [{extra}]" if extra else ""))])
    lines.append(_rst_table(["dataset", "dimensions", "units", "meaning"], rows, "2 2 1 5"))
    return "\n".join(lines)


def spec_page() -> str:
    from glasskit.campaign import spec
    from glasskit.util.paths import JOBS
    notes = _toml_comments(Path(JOBS) / "simulate.toml")
    lines = ["Campaign spec keys", "==================", "",
             "Generated from :mod:`glasskit.campaign.spec`: every key ``load_spec`` accepts, its type, default "
             "and the rule it is checked against; the notes are the comments of the shipped "
             "``jobs/simulate.toml``. An unknown key, a wrong type or a broken rule is refused with one line "
             "naming the file and the key.", ""]
    tables = dict(spec._TABLES)
    tables["campaign.runs"] = spec.RunGroup
    for table, cls in tables.items():
        hints = typing.get_type_hints(cls)
        src = _source_comments(cls)
        title = f"[[{table}]]" if table == "campaign.runs" else f"[{table}]"
        lines += [title, "-" * len(title), ""]
        doc = inspect.getdoc(cls) if cls.__doc__ else ""
        if doc and not doc.startswith(cls.__name__ + "("):
            lines += [doc.split("\n\n")[0].replace("\n", " "), ""]
        rows = []
        for f in dataclasses.fields(cls):
            if table == "campaign" and f.name == "runs":
                continue
            rule = f.metadata.get("rule", (None, ""))[1]
            note = notes.get(f"{table}.{f.name}") or src.get(f.name, "")
            rows.append([f"``{f.name}``", _type(hints[f.name]), _default(f), f"``{rule}``" if rule else "--",
                         _text(note)])
        lines.append(_rst_table(["key", "type", "default", "rule", "note"], rows, "2 2 2 3 5"))
    return "\n".join(lines)


def profile_page() -> str:
    from glasskit.batch import cluster
    lines = ["Cluster profile keys", "====================", "",
             "Generated from :mod:`glasskit.batch.cluster`: every key a profile (``hpc/clusters/NAME.toml``) may "
             "set, its default and the pattern or range its value must match (every value reaches an sbatch "
             "script). Extra ``sbatch`` lines may not set an option glasskit sets itself: "
             + ", ".join(f"``--{o}``" for o in sorted(cluster._OWN)) + ".", ""]
    for title, cls, prefix in (("Top level", cluster.ClusterProfile, ""), ("[gpu]", cluster.GpuProfile, "gpu.")):
        hints = typing.get_type_hints(cls)
        src = _source_comments(cls)
        lines += [title, "-" * len(title), ""]
        rows = []
        for f in dataclasses.fields(cls):
            if f.name in ("source", "gpu", "md_rates"):  # md_rates: atom_steps_per_s given as a table
                continue
            check = ("number in (0, 1e15), or a table ``[atom_steps_per_s]`` of pair style = number (the bill "
                     "uses the spec's style)" if f.name == "atom_steps_per_s" else "true or false"
                     if f.name == "preemptible" else"pattern ``" + cluster._PATTERNS[f.name].pattern + "``" if f.name in cluster._PATTERNS else
                     f"integer in [{cluster._INTS[f.name][0]}, {cluster._INTS[f.name][1]}]" if f.name in cluster._INTS
                     else f"number in ({cluster._FLOATS[f.name][0]:g}, {cluster._FLOATS[f.name][1]:g})"
                     if f.name in cluster._FLOATS else
                     "list of tokens ``" + cluster._TOKEN.pattern + "``" if f.name in ("modules", "launcher") else
                     "``--option[=value]`` lines" if f.name == "sbatch" else
                     "table of NAME = \"value\" (shell-quoted)" if f.name == "env" else "--")
            rows.append([f"``{prefix}{f.name}``", _type(hints[f.name]), _default(f), check, _text(src.get(f.name))])
        lines.append(_rst_table(["key", "type", "default", "check", "note"], rows, "2 2 2 3 4"))
    return "\n".join(lines)


def models_page() -> str:
    from glasskit.ml import config
    lines = ["Model and training keys", "=======================", "",
             "Generated from :mod:`glasskit.ml.config`: the tables of ``jobs/models.toml`` (``[train]``, ``[cnn]``, "
             "``[dmpnn]``; ``[preset.NAME]`` tables override them, ``--hp key=value`` any one key).", ""]
    for table, cls in [("train", config.TrainSpec), *config._SPECS.items()]:
        hints = typing.get_type_hints(cls)
        src = _source_comments(cls)
        lines += [f"[{table}]", "-" * (len(table) + 2), ""]
        rows = [[f"``{f.name}``", _type(hints[f.name]), _default(f),
                 f"``{f.metadata['rule'][1]}``" if "rule" in f.metadata else "--", _text(src.get(f.name))]
                for f in dataclasses.fields(cls)]
        lines.append(_rst_table(["key", "type", "default", "rule", "note"], rows, "2 2 2 3 4"))
    return "\n".join(lines)


PAGES = {"schema.rst": schema_page, "spec-keys.rst": spec_page, "profile-keys.rst": profile_page,
         "model-keys.rst": models_page}


def generate(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in PAGES.items():
        p = out / name
        text = make()
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
        written.append(p)
    return written
