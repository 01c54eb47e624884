"""``glasskit export``: frames of a collected campaign in the field's own formats.

=============  =====================================================================  ================
format         what is written                                                        proven by
=============  =====================================================================  ================
``h5md``       H5MD 1.1: ``/h5md`` (version, author, creator); one particles group    pyh5md
               per simulation ``/particles/sim-NNNNN`` with ``position`` (value,
               step, time), ``species`` (0 = A, 1 = B), ``box`` (dimension 2,
               periodic, ``edges``); ``/observables/sim-NNNNN/`` target and measured
               temperature, potential (and inherent-structure) energy per particle
``gsd``        GSD (HOOMD schema): one frame per selected frame, 2-D box              gsd, freud
               (``dimensions = 2``, Lz = 0), positions centred on the origin, types
               A/B; ``log/glasskit/{sim,frame,T,t_cool,pe}``
``xyz``        extended XYZ: ``Lattice``, ``Properties=type:S:1:pos:R:3`` (A, B:   ASE
               not chemical elements, so ASE sees dummy atoms ``X`` with the
               species in ``atoms.arrays["type"]``; OVITO reads ``type`` as the
               particle type), ``pbc="T T F"``, and sim, frame, step, T, t_cool,
               pe per frame
``lammps-data``  a LAMMPS data file (``atom_style atomic``, 2-D box with zlo/zhi        LAMMPS read_data
               -0.5/0.5): any frame as a LAMMPS starting point; several frames
               go into a directory, one file each
=============  =====================================================================  ================

Positions are in sigma_AA. H5MD, extended XYZ and GSD readers take the box's lower corner as the
origin (or its centre, GSD), so positions are shifted accordingly; LAMMPS data keeps the box's
own bounds. Every file is written whole or not at all (:func:`glasskit.util.outputs.replace_file`).
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glasskit import __version__
from glasskit.campaign.store import CampaignReader, FrameView, centered
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.util.outputs import claim_many, replace_file

FORMATS = ("h5md", "gsd", "xyz", "lammps-data")
SUFFIX = {"h5md": ".h5", "gsd": ".gsd", "xyz": ".xyz", "lammps-data": ".data"}
SPECIES = ("A", "B")


@dataclass(frozen=True)
class ExportSelection:
    """Which frames: each field None for "any". ``sims`` and ``frames`` (0-based) are index
    lists, ``T`` a target temperature (epsilon_AA/k_B, within ``tol``), ``t_cool`` MD steps;
    ``inherent``: the inherent structures' positions instead of the trajectory's."""

    sims: tuple[int, ...] | None = None
    frames: tuple[int, ...] | None = None
    T: float | None = None
    t_cool: int | None = None
    tol: float = 0.005
    inherent: bool = False


def export(reader: CampaignReader, fmt: str, out: str | Path, what: ExportSelection = ExportSelection()) -> list[Path]:
    """Write selected frames in one of the field's formats.

    Parameters
    ----------
    reader : CampaignReader
        The open campaign file.
    fmt : str
        ``h5md``, ``gsd``, ``xyz`` or ``lammps-data``.
    out : str or pathlib.Path
        The file to write (``lammps-data`` with several frames: a directory).
    what : ExportSelection
        Which frames, and whether trajectory or inherent-structure positions.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if fmt not in FORMATS:
        raise GlasskitError(f"unknown export format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
    sel = reader.select(T=what.T, t_cool=what.t_cool, tol=what.tol, sim=what.sims, frames=what.frames,
                        minimized=what.inherent)
    if not len(sel):
        raise GlasskitError("no stored frame matches the selection" + (" (with --inherent: only minimized frames)"
                            if what.inherent else ""), "widen --sim/--T/--t-cool/--frames; glasskit status "
                            "shows what is done")
    frames = reader.frames(sel, inherent=what.inherent)
    out = Path(out)
    if fmt == "lammps-data":
        paths = _lammps_data(frames, out, len(sel), reader)
    else:
        with replace_file(out) as tmp:
            {"h5md": _h5md, "gsd": _gsd, "xyz": _xyz}[fmt](frames, tmp, reader, what)
        paths = [out]
    logger.info("exported %d frame(s) of %d simulation(s) as %s -> %s", len(sel), len(np.unique(sel.sim)), fmt,
                out)
    return paths


def _origin_shifted(fr: FrameView) -> np.ndarray:
    """(N, 2) float64 positions relative to the box's lower corner (wrapped into the box)."""
    L = fr.box[:, 1] - fr.box[:, 0]
    return np.mod(fr.x.astype(np.float64) - fr.box[:, 0], L)


def _h5md(frames, path: Path, reader: CampaignReader, what: ExportSelection) -> None:
    import h5py
    by_sim: dict[int, list[FrameView]] = {}
    for fr in frames:
        by_sim.setdefault(fr.sim, []).append(fr)
    dt = float(reader.f.attrs.get("timestep", 0.005))
    with h5py.File(path, "w") as f:
        h = f.create_group("h5md")
        h.attrs["version"] = np.array([1, 1], dtype=np.int32)
        h.create_group("author").attrs["name"] = getpass.getuser()
        c = h.create_group("creator")
        c.attrs["name"], c.attrs["version"] = "glasskit", __version__
        for sim, frs in by_sim.items():
            name = f"sim-{sim:05d}"
            g = f.create_group(f"particles/{name}")
            box = g.create_group("box")
            box.attrs["dimension"] = np.int32(2)
            box.attrs["boundary"] = np.array([b"periodic", b"periodic"], dtype="S8")
            box["edges"] = (frs[0].box[:, 1] - frs[0].box[:, 0]).astype(np.float64)
            box["edges"].attrs["unit"] = "sigma_AA"
            pos = g.create_group("position")
            pos["value"] = np.stack([_origin_shifted(fr) for fr in frs]).astype(np.float32)
            pos["value"].attrs["unit"] = "sigma_AA"
            pos["step"] = np.array([fr.step for fr in frs], dtype=np.int64)
            pos["time"] = pos["step"][...] * dt
            pos["time"].attrs["unit"] = "tau"
            g["species"] = (frs[0].types.astype(np.int32) - 1)  # time-independent: 0 = A, 1 = B
            g["species"].attrs["names"] = np.array([b"A", b"B"])
            g.attrs["simulation"], g.attrs["t_cool"] = sim, frs[0].t_cool
            g.attrs["frames"] = np.array([fr.frame for fr in frs], dtype=np.int64)
            g.attrs["positions"] = "inherent structures (FIRE minima)" if what.inherent else "trajectory"
            for obs, unit, values in (("target_temperature", "epsilon_AA/k_B", [fr.T for fr in frs]),
                                      ("potential_energy", "epsilon_AA", [fr.pe for fr in frs]),
                                      ("inherent_structure_energy", "epsilon_AA", [fr.is_pe for fr in frs])):
                o = f.create_group(f"observables/{name}/{obs}")
                o["value"] = np.asarray(values, dtype=np.float64)
                o["value"].attrs["unit"] = unit
                o["step"] = pos["step"][...]
                o["time"] = pos["time"][...]
        p = f.create_group("parameters/glasskit")
        p.attrs["spec"] = reader.f.attrs.get("spec", "")
        p.attrs["campaign"] = reader.f.attrs.get("campaign", "")
        p.attrs["units_system"] = reader.f.attrs.get("units_system", "LAMMPS units lj")


def _gsd(frames, path: Path, reader: CampaignReader, what: ExportSelection) -> None:
    try:
        import gsd.hoomd
    except ImportError:
        from glasskit.util.paths import install_hint
        raise GlasskitError("the gsd format needs the gsd package", install_hint("export")) from None
    with gsd.hoomd.open(str(path), "w") as traj:
        for fr in frames:
            s = gsd.hoomd.Frame()
            s.configuration.step = int(fr.step)
            s.configuration.dimensions = 2
            L = fr.box[:, 1] - fr.box[:, 0]
            s.configuration.box = [float(L[0]), float(L[1]), 0.0, 0.0, 0.0, 0.0]
            s.particles.N = len(fr.types)
            s.particles.types = list(SPECIES)
            s.particles.typeid = (fr.types.astype(np.uint32) - 1)
            s.particles.position = centered(fr.x, fr.box)
            s.log = {"glasskit/sim": np.array([fr.sim]), "glasskit/frame": np.array([fr.frame]),
                     "glasskit/T": np.array([fr.T]), "glasskit/t_cool": np.array([fr.t_cool]),
                     "glasskit/pe": np.array([fr.pe]), "glasskit/is_pe": np.array([fr.is_pe])}
            traj.append(s)


def _xyz(frames, path: Path, reader: CampaignReader, what: ExportSelection) -> None:
    with open(path, "w") as fh:
        for fr in frames:
            L = (fr.box[:, 1] - fr.box[:, 0]).tolist()
            x = _origin_shifted(fr)
            fh.write(f"{len(x)}\n")
            fh.write(f'Lattice="{L[0]!r} 0.0 0.0 0.0 {L[1]!r} 0.0 0.0 0.0 0.0" Properties=type:S:1:pos:R:3 '
                     f'pbc="T T F" sim={fr.sim} frame={fr.frame} step={fr.step} T={float(fr.T)!r} t_cool={fr.t_cool} '
                     f'pe={float(fr.pe)!r} inherent={"T" if what.inherent else "F"}\n')
            names = np.array(SPECIES)[fr.types - 1]
            fh.writelines(f"{n} {a!r} {b!r} 0.0\n" for n, (a, b) in zip(names, x.tolist()))


def lammps_data_text(fr: FrameView, note: str = "") -> str:
    """A LAMMPS data file (``atom_style atomic``, 2-D) of one frame, in the box's own bounds."""
    b = fr.box.tolist()
    x = fr.box[:, 0] + _origin_shifted(fr)  # wrapped: read_data refuses atoms outside the box
    lines = [f"LAMMPS data file: glasskit {__version__}, simulation {fr.sim} frame {fr.frame} (step {fr.step}, "
             f"T {float(fr.T)!r}, t_cool {fr.t_cool}){note}", "",
             f"{len(x)} atoms", "2 atom types", "",
             f"{b[0][0]!r} {b[0][1]!r} xlo xhi", f"{b[1][0]!r} {b[1][1]!r} ylo yhi", "-0.5 0.5 zlo zhi", "",
             "Masses", "", "1 1.0", "2 1.0", "", "Atoms # atomic", ""]
    lines += [f"{i + 1} {int(t)} {p[0]!r} {p[1]!r} 0.0" for i, (t, p) in enumerate(zip(fr.types, x.tolist()))]
    return "\n".join(lines) + "\n"


def _lammps_data(frames, out: Path, n: int, reader: CampaignReader) -> list[Path]:
    """One frame: ``out`` is the file; several: ``out`` is a directory of ``sim-S-frame-K.data``."""
    if n == 1:
        fr = next(iter(frames))
        with replace_file(out) as tmp:
            tmp.write_text(lammps_data_text(fr))
        return [out]
    if out.exists() and not out.is_dir():
        raise GlasskitError(f"{n} frames are selected and {out} is a file: a LAMMPS data file holds one frame",
                            "give --out a directory (one file per frame) or select one frame (--sim S --frames K)")
    paths = []
    claim_many(out, [])
    for fr in frames:
        p = out / f"sim-{fr.sim:05d}-frame-{fr.frame:03d}.data"
        with replace_file(p) as tmp:
            tmp.write_text(lammps_data_text(fr))
        paths.append(p)
    return paths
