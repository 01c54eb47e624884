"""What every dataset of a shard and of the campaign file holds: one table, used by the code that
writes each dataset (:func:`create`, :func:`describe`) and by ``verify`` (:func:`check`).

A stranger opening a glasskit HDF5 file with plain h5py (or h5dump, HDFView, xarray through
h5netcdf) finds on every dataset:

* ``units`` -- in the LJ reduced units of the spec (``units lj``): lengths in ``sigma_AA``,
  energies in ``epsilon_AA`` (per particle where the name says so), temperatures in
  ``epsilon_AA/k_B``, time in ``tau`` = sigma_AA sqrt(m_A / epsilon_AA), steps in ``MD step``;
  ``1`` for dimensionless numbers, ``""`` for flags, codes and indices;
* ``long_name`` -- one sentence of what it is;
* dimension labels (``ds.dims[i].label``: ``simulation``, ``frame``, ``atom``, ``spatial``);
* codes as HDF5 enums (``h5py.check_enum_dtype(ds.dtype)`` gives the names) and, for types, a
  ``species`` attribute.

Root attributes (:data:`ROOT_ATTRS`) say the units system, the dimension, the species and the
box's layout. ``glasskit describe FILE`` (:func:`describe_file`) prints all of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np

SCHEMA_VERSION = 1  # root attribute ``schema``: bump when a name, unit or code changes meaning

# codes: HDF5 enums (plain h5py reads the integers; the names travel in the type)
STATE = {"pending": 0, "running": 1, "done": 2, "failed": 3}
STOP = {"unknown": -1, "energy_tolerance": 0, "iteration_limit": 1, "force_tolerance": 2}
SPECIES = {"A": 1, "B": 2}  # LAMMPS atom types 1 and 2
STATE_T = h5py.enum_dtype(STATE, basetype="i1")
STOP_T = h5py.enum_dtype(STOP, basetype="i1")
SPECIES_T = h5py.enum_dtype(SPECIES, basetype="i1")

UNITS_SYSTEM = ("LAMMPS units lj (reduced): lengths in sigma_AA, energies in epsilon_AA, masses in m_A, "
                "temperatures in epsilon_AA/k_B, time in tau = sigma_AA sqrt(m_A/epsilon_AA); one MD step "
                "is the spec's [protocol] timestep in tau")
BOX_LAYOUT = "[[xlo, xhi], [ylo, yhi]] in sigma_AA; periodic in x and y; 2-D (LAMMPS dimension 2)"

ROOT_ATTRS = {
    "units_system": UNITS_SYSTEM,
    "dimension": 2,
    "boundary": ["periodic", "periodic"],
    "species": ["A", "B"],
    "box_layout": BOX_LAYOUT,
    "schema": SCHEMA_VERSION,
}


@dataclass(frozen=True)
class Field:
    """One dataset: its dimension labels, units and meaning (and enum, for codes)."""

    dims: tuple[str, ...]
    units: str
    long_name: str
    dtype: object = None  # an enum type for codes; None: the writer's dtype
    extra: dict = field(default_factory=dict)  # further attributes (species, layout)


_F, _S, _T, _E = ("simulation",), ("simulation", "frame"), ("simulation", "frame", "atom", "spatial"), "epsilon_AA"

FIELDS: dict[str, Field] = {
    "sim/index": Field(_F, "", "simulation index in the campaign (0-based; the row of this simulation)"),
    "sim/seed": Field(_F, "", "velocity seed of the simulation (derived from campaign.seed and the index)"),
    "sim/t_cool": Field(_F, "MD step", "length of the linear cooling ramp from t_start to t_stop"),
    "sim/state": Field(_F, "", "state of the row when last written", STATE_T),
    "sim/done": Field(_F, "", "true once every frame of the row is on disk (written last)"),
    "sim/crc": Field(_F, "", "CRC-32 of a done row's index, seed, t_cool, state and done flag, for verify"),
    "sim/source": Field(_F, "", "row of /provenance/shards whose shard holds the simulation's trajectory (-1: none)"),
    "sim/is_source": Field(_F, "", "row of /provenance/shards whose shard holds its inherent structures (-1: none)"),
    "frames/step": Field(_S, "MD step", "MD step of the frame since the ramp started (-1: no frame)"),
    "frames/T": Field(_S, "epsilon_AA/k_B", "target temperature of the ramp at the frame (the thermostat's set "
                                            "point), not the measured one (see frames/temp)"),
    "frames/temp": Field(_S, "epsilon_AA/k_B", "measured kinetic temperature at the frame (thermostat check)"),
    "frames/pe": Field(_S, _E, "potential energy per particle at the frame"),
    "frames/crc": Field(_S, "", "CRC-32 of the frame's coordinates and numbers (step, T, pe, temp), for verify"),
    "frames/x": Field(_T, "sigma_AA", "positions (x, y) of every atom, ordered by LAMMPS atom id, wrapped into "
                                      "the periodic box up to atoms that crossed it since the last re-neighbouring; "
                                      "scaled positions are (x - lo) / (hi - lo) with /box"),
    "frames/type": Field(("atom",), "", "species of every atom (LAMMPS type 1 = A, 2 = B), fixed in time",
                         SPECIES_T, {"species": ["A", "B"]}),
    "is/pe": Field(_S, _E, "inherent-structure (FIRE-minimized) potential energy per particle of the frame"),
    "is/xs": Field(_T, "1", "inherent-structure positions scaled by the box ((x - lo) / (hi - lo), in [0, 1) up "
                            "to atoms outside the box)"),
    "is/done": Field(_S, "", "true once the frame's inherent structure is on disk (written last)"),
    "is/iters": Field(_S, "", "FIRE iterations used (-1: unknown)"),
    "is/stop": Field(_S, "", "why FIRE stopped", STOP_T),
    "is/crc": Field(_S, "", "CRC-32 of the frame's inherent-structure coordinates, pe, iters and stop, for verify"),
    "box": Field(("spatial", "bound"), "sigma_AA", "simulation box, fixed for the campaign (NVT)", None,
                 {"layout": BOX_LAYOUT, "dimension": 2, "boundary": ["periodic", "periodic"]}),
}


def create(f: h5py.File | h5py.Group, name: str, shape, dtype=None, **kwargs) -> h5py.Dataset:
    """Create dataset ``name`` with the schema's dtype (enums) and attributes. Under mpio every
    rank must call it (dataset creation and attributes are collective metadata)."""
    fld = FIELDS[name]
    ds = f.create_dataset(name, shape=shape, dtype=fld.dtype if fld.dtype is not None else dtype, **kwargs)
    describe(ds, name)
    return ds


def describe(ds: h5py.Dataset, name: str | None = None) -> None:
    """Write the schema's attributes and dimension labels onto ``ds`` (its name in the schema:
    ``name``, else the dataset's own path)."""
    fld = FIELDS[name or ds.name.lstrip("/")]
    ds.attrs["units"] = fld.units
    ds.attrs["long_name"] = fld.long_name
    for key, value in fld.extra.items():
        ds.attrs[key] = value
    for i, label in enumerate(fld.dims[:ds.ndim]):
        ds.dims[i].label = label


def describe_root(f: h5py.File, kind: str) -> None:
    """Root attributes every glasskit file carries (``kind``: ``shard`` or ``campaign``)."""
    f.attrs["glasskit_file"] = kind
    for key, value in ROOT_ATTRS.items():
        f.attrs[key] = value


def check(f: h5py.File) -> list[str]:
    """Check that a glasskit file describes itself.

    Parameters
    ----------
    f : h5py.File
        A shard or campaign file, open for reading.

    Returns
    -------
    list of str
        One line per problem: a known dataset without the schema's units, meaning, dimension
        labels or enum, a root attribute missing. Empty when the file describes itself.
    """
    out = []
    for key, value in ROOT_ATTRS.items():
        have = f.attrs.get(key)
        if have is None or not _same(have, value):
            out.append(f"root attribute '{key}' is missing or differs from the schema")
    for name, fld in FIELDS.items():
        if name not in f:
            continue
        ds = f[name]
        if ds.attrs.get("units") != fld.units or ds.attrs.get("long_name") != fld.long_name:
            out.append(f"/{name}: units or long_name missing or differ from the schema")
        if [d.label for d in ds.dims] != list(fld.dims[:ds.ndim]):
            out.append(f"/{name}: dimension labels {[d.label for d in ds.dims]}, the schema says {list(fld.dims)}")
        if fld.dtype is not None and h5py.check_enum_dtype(ds.dtype) != h5py.check_enum_dtype(fld.dtype):
            out.append(f"/{name}: not the schema's enum {h5py.check_enum_dtype(fld.dtype)}")
        for key, value in fld.extra.items():
            if key not in ds.attrs or not _same(ds.attrs[key], value):
                out.append(f"/{name}: attribute '{key}' missing or differs from the schema")
    return out


def _same(have, want) -> bool:
    if isinstance(want, (list, tuple)):
        have = [h.decode() if isinstance(h, bytes) else h for h in np.atleast_1d(have).tolist()]
        return have == list(want)
    if isinstance(have, bytes):
        have = have.decode()
    return have == want


def describe_file(path) -> str:
    """Describe every dataset of a glasskit HDF5 file.

    Parameters
    ----------
    path : str or pathlib.Path
        A shard or campaign file.

    Returns
    -------
    str
        One line per dataset: shape, dtype (or enum), dimension labels, units and meaning.
    """
    lines = []
    with h5py.File(path, "r", locking=False) as f:
        lines.append(f"{path}: glasskit {f.attrs.get('glasskit_file', '?')} file")
        for key in ("units_system", "box_layout", "species"):
            if key in f.attrs:
                lines.append(f"  {key}: {f.attrs[key]}")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                enum = h5py.check_enum_dtype(obj.dtype)
                dims = ", ".join(d.label or "?" for d in obj.dims)
                lines.append(f"  /{name} {obj.shape} {obj.dtype if enum is None else 'enum ' + str(enum)}"
                             f" [{dims}] {obj.attrs.get('units', '?')!s}: {obj.attrs.get('long_name', '?')}")
        f.visititems(visit)
    return "\n".join(lines)


def describe_json(path) -> dict:
    """:func:`describe_file` as data: root attributes and every dataset's shape, dtype, enum,
    dimensions, units and meaning."""
    out: dict = {"file": str(path), "datasets": {}}
    with h5py.File(path, "r", locking=False) as f:
        out["kind"] = str(f.attrs.get("glasskit_file", ""))
        out["attributes"] = {k: _plain(f.attrs[k]) for k in ROOT_ATTRS if k in f.attrs}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out["datasets"][name] = {"shape": list(obj.shape), "dtype": str(obj.dtype),
                                         "enum": h5py.check_enum_dtype(obj.dtype),
                                         "dims": [d.label for d in obj.dims],
                                         "units": _plain(obj.attrs.get("units")),
                                         "long_name": _plain(obj.attrs.get("long_name"))}
        f.visititems(visit)
    return out


def _plain(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v
