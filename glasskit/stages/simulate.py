"""The simulate stage: shared initial configuration and linear cooling runs, in LAMMPS.

Compute objects, arrays in and out (freud/LAMMPS-Python style):

* :func:`init_input` / :func:`cool_input` render the LAMMPS inputs of a spec;
* :func:`ensure_initial` builds the campaign's one FIRE-minimized starting configuration;
* :class:`CoolingRun` drives one simulation in-process and yields :class:`Frame` objects.

Lengths are in sigma_AA, energies in epsilon_AA, temperatures in epsilon_AA / k_B, time in MD
steps of ``protocol.timestep`` tau.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from glasskit.campaign.layout import INIT_DATA, INIT_H5, file_sha256, initial_types  # noqa: F401 - re-used here
from glasskit.stages.engine import accelerator, engine_switches, error_text, new_lammps, settle_log
from glasskit.util.errors import LammpsFailure
from glasskit.util.render import lmp_path, render
from glasskit.campaign.spec import PLAIN_ENGINE, EngineSpec, Spec



def _potential_context(spec: Spec, engine: EngineSpec | None = None) -> dict:
    """Template values of ``_potential.in.j2``: the pair table, and the ``[engine]`` settings
    (``engine`` overrides the spec's: the initial configuration always uses the plain form)."""
    s, e = spec.system, engine or spec.engine
    pairs = [(i, j, s.epsilon[k], s.sigma[k], round(s.cutoff * s.sigma[k], 10))
             for k, (i, j) in enumerate([(1, 1), (1, 2), (2, 2)])]
    return dict(mass=s.mass, cutoff=s.cutoff, cutoff_max=max(p[4] for p in pairs), pairs=pairs,
                pair_shift="yes" if s.shift else "no", pair_style=e.pair_style, skin=e.skin,
                neigh_every=e.neigh_every, package_lines=list(accelerator(e).lines))


def init_input(spec: Spec, data_file: str | Path) -> str:
    """LAMMPS input that builds, types and FIRE-minimizes the initial configuration.

    It uses the plain ``[engine]`` form whatever the spec says, so campaigns that differ only in
    their engine settings start from the same configuration bit for bit."""
    s, i = spec.system, spec.init
    nx, ny = s.lattice
    # a unit cell of area 1 (ax * ay = 1) scaled by LAMMPS to density^-1/2: nx * ax = ny * ay
    return render("lammps/init.in.j2", campaign=spec.campaign.name, density=s.density, side=repr(s.side),
                  ax=repr(math.sqrt(ny / nx)), ay=repr(math.sqrt(nx / ny)),
                  nx=s.lattice[0], ny=s.lattice[1], n_b=s.n_b, n_atoms=s.n_atoms, seed=i.seed,
                  etol=i.etol, ftol=i.ftol, maxiter=i.maxiter, maxeval=i.maxeval,
                  data_file=str(data_file), **_potential_context(spec, PLAIN_ENGINE))


def cool_input(spec: Spec, data_file: str | Path, index: int, seed: int, t_cool: int,
               restart: str | Path | None = None) -> str:
    """LAMMPS set-up of simulation ``index``; the ramp itself is run by :class:`CoolingRun`.
    With ``restart`` (a checkpoint's LAMMPS restart file) the state is read from it instead of
    being created: no new velocities, the step counter and the thermostat continue."""
    p = spec.protocol
    return render("lammps/cool.in.j2", campaign=spec.campaign.name, index=index, seed=seed,
                  restart=str(restart) if restart else "",
                  t_cool=t_cool, n_frames=spec.n_frames(t_cool), data_file=str(data_file),
                  timestep=p.timestep, t_start=p.t_start, t_stop=p.t_stop, tdamp=p.tdamp,
                  dump_every=spec.dump_every(t_cool), sort_every=spec.engine.sort_every,
                  **_potential_context(spec))


@dataclass(frozen=True)
class Snapshot:
    """Coordinates of all atoms, ordered by atom id.

    x: (N, 2) float32 unscaled positions (sigma); xs: (N, 2) float32 positions scaled by the box
    (LAMMPS dump ``xs ys``: in [0, 1) up to atoms that crossed a boundary since the last
    re-neighbouring); types: (N,) int8 (1 = A, 2 = B); box: (2, 2) float64 [[xlo, xhi], [ylo, yhi]].
    """

    x: np.ndarray
    xs: np.ndarray
    types: np.ndarray
    box: np.ndarray


def snapshot(lmp) -> Snapshot:
    """Read positions and types from a live LAMMPS instance (one process owns all atoms)."""
    n = int(lmp.extract_global("nlocal"))  # the numpy views also cover ghost atoms
    ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
    order = np.argsort(ids)
    x = np.asarray(lmp.numpy.extract_atom("x"))[:n][order, :2]
    types = np.asarray(lmp.numpy.extract_atom("type"))[:n][order].astype(np.int8)
    lo, hi = lmp.extract_box()[:2]
    box = np.array([[lo[0], hi[0]], [lo[1], hi[1]]], dtype=np.float64)
    xs = (x - box[:, 0]) / (box[:, 1] - box[:, 0])
    return Snapshot(x.astype(np.float32), xs.astype(np.float32), types, box)


def checked_snapshot(lmp, n_atoms: int, index: int, where: str) -> Snapshot:
    """:func:`snapshot`, refusing a state that must not be stored: atoms lost (even where LAMMPS
    was told to ignore it) or non-finite coordinates."""
    have = int(lmp.get_natoms())
    if have != n_atoms:
        raise LammpsFailure(index, f"{n_atoms - have} of {n_atoms} atoms lost by {where}")
    snap = snapshot(lmp)
    if not (np.isfinite(snap.x).all() and np.isfinite(snap.xs).all()):
        raise LammpsFailure(index, f"non-finite coordinates at {where}: the run blew up")
    return snap


@dataclass(frozen=True)
class Frame:
    """Frame ``k`` (1-based) at MD ``step``: target temperature ``T``, measured kinetic
    temperature ``temp``, potential energy per particle ``pe`` (epsilon) and coordinates."""

    k: int
    step: int
    T: float
    temp: float
    pe: float
    snap: Snapshot


def ensure_initial(spec: Spec, workdir: Path, comm=None) -> Path:
    """Build the campaign's shared initial configuration once.

    Safe to call from many tasks at once: each writes private temporaries and renames them
    into place; the output is deterministic, and ``init.h5`` (renamed last) marks completion.

    Parameters
    ----------
    spec : Spec
        The campaign spec (lattice, B fraction, FIRE settings of ``[init]``).
    workdir : pathlib.Path
        The campaign directory.
    comm : mpi4py.MPI.Comm, optional
        The communicator LAMMPS runs on (default: its own).

    Returns
    -------
    pathlib.Path
        ``workdir/init.data`` (LAMMPS data file); ``init.h5`` beside it holds types, x and box.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data, meta = workdir / INIT_DATA, workdir / INIT_H5
    if data.is_file() and meta.is_file():
        return data
    from glasskit.util.outputs import refuse_link
    refuse_link(data), refuse_link(meta)
    tag = f".tmp{os.getpid()}"
    tmp_data, tmp_meta = workdir / (INIT_DATA + tag), workdir / (INIT_H5 + tag)
    refuse_link(tmp_data), refuse_link(tmp_meta)
    lmp = new_lammps(comm)
    try:
        lmp.commands_string(init_input(spec, tmp_data))
        snap = snapshot(lmp)
        pe = float(lmp.get_thermo("pe"))
    except Exception as exc:  # LAMMPS raises plain Exceptions
        raise LammpsFailure(-1, error_text(exc)) from None
    finally:
        lmp.close()
    with h5py.File(tmp_meta, "w") as f:
        f["type"], f["x"], f["xs"], f["box"] = snap.types, snap.x, snap.xs, snap.box
        f.attrs["pe"] = pe
        f.attrs["spec"] = spec.text
        f.attrs["campaign_id"] = spec.campaign_id
        f.attrs["init_sha256"] = file_sha256(tmp_data)  # an edited init.data is then visible
    os.replace(tmp_data, data)
    os.replace(tmp_meta, meta)
    return data


class CoolingRun:
    """Run linear-cooling simulations of a spec from its initial configuration.

    >>> run = CoolingRun(spec, workdir / "init.data")                      # doctest: +SKIP
    >>> for frame in run.frames(index=3, seed=123, t_cool=20000): ...      # doctest: +SKIP

    ``inject`` (tests only) is extra LAMMPS input executed just before the ramp starts.
    """

    def __init__(self, spec: Spec, data_file: Path, comm=None):
        self.spec, self.data_file, self.comm = spec, Path(data_file), comm

    def frames(self, index: int, seed: int, t_cool: int, inject: str = "", log: Path | None = None,
               restart: Path | None = None, first: int = 1) -> Iterator[Frame]:
        """Run simulation ``index`` and yield its frames as they are reached.

        Parameters
        ----------
        index : int
            Simulation index (names it in errors and inputs).
        seed : int
            Velocity seed.
        t_cool : int
            Ramp length (MD steps) from ``t_start`` to ``t_stop``.
        inject : str
            Extra LAMMPS commands run just before the ramp (tests only).
        log : pathlib.Path, optional
            Where LAMMPS writes its log; kept whole when the run fails, trimmed to its warnings
            when it succeeds (:func:`glasskit.stages.engine.settle_log`).
        restart : pathlib.Path, optional
            A checkpoint's LAMMPS restart file to continue from (its state after frame
            ``first - 1``); the ramp goes on from its step, exactly as it would have.
        first : int
            The first frame to run and yield (1, or the checkpoint's frame + 1).

        Yields
        ------
        Frame
            Frame ``k`` (1-based) with its step, target and measured temperature, potential
            energy per particle (epsilon_AA) and coordinates. While a frame is being handled,
            :meth:`write_restart` writes the live state (a checkpoint).
        """
        every = self.spec.dump_every(t_cool)
        n_atoms = self.spec.system.n_atoms
        lmp = new_lammps(self.comm, log, engine_switches(self.spec.engine))
        ok = False
        try:
            self._do(lmp, index, cool_input(self.spec, self.data_file, index, seed, t_cool, restart) + inject)
            if restart is not None and int(lmp.extract_global("ntimestep")) != (first - 1) * every:
                raise LammpsFailure(index, f"checkpoint {restart} holds step {int(lmp.extract_global('ntimestep'))}, "
                                           f"not frame {first - 1}'s step {(first - 1) * every}")
            self._lmp, self._changed = lmp, False
            for k in range(first, self.spec.n_frames(t_cool) + 1):
                # a full set-up (neighbour lists, forces) on the first block and after a checkpoint:
                # write_restart re-wraps atoms and rebuilds the ghosts, which "pre no" would not see
                pre = "yes" if k == first or self._changed else "no"
                self._changed = False
                self._do(lmp, index, f"run {every} start 0 stop {t_cool} pre {pre} post no")
                step = int(lmp.extract_global("ntimestep"))
                frame = Frame(k, step, float(self.spec.frame_temperature(step, t_cool)),
                              float(lmp.get_thermo("temp")), float(lmp.get_thermo("pe")),
                              checked_snapshot(lmp, n_atoms, index, f"frame {k} (step {step})"))
                if not (np.isfinite(frame.temp) and np.isfinite(frame.pe)):
                    raise LammpsFailure(index, f"non-finite energy or temperature at frame {k} (step {step}): "
                                               "the run blew up (check timestep and tdamp)")
                yield frame
            ok = True
        except LammpsFailure as exc:
            if log is not None and Path(log).is_file():
                exc.message += f" (LAMMPS log: {log})"
            raise
        finally:
            self._lmp = None
            lmp.close()
            if log is not None:
                settle_log(log, failed=not ok)

    _lmp = None

    def write_restart(self, path: Path, index: int = -1) -> None:
        """Write the running simulation's LAMMPS restart file (positions, velocities, step, the
        thermostat's state) to ``path``; only while :meth:`frames` is between two frames."""
        if self._lmp is None:
            raise RuntimeError("write_restart outside a running simulation")
        self._do(self._lmp, index, f"write_restart {lmp_path(path)}")
        self._changed = True

    @staticmethod
    def _do(lmp, index: int, commands: str) -> None:
        try:
            lmp.commands_string(commands)
        except Exception as exc:  # LAMMPS raises plain Exceptions carrying its ERROR line
            raise LammpsFailure(index, error_text(exc)) from None
