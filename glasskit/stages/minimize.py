"""The minimize stage: FIRE inherent structures of stored frames, one reused LAMMPS per rank.

:class:`InherentStructures` loads the system once (``templates/lammps/minimize.in.j2``), then
for each frame scatters the coordinates into the live instance, minimizes and gathers the
energy and minimized coordinates: no process start and no input parsing per frame. Atom
sorting is off, so a frame's result depends only on its own coordinates (a re-run after a
crash reproduces an uninterrupted one bit for bit).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from glasskit.stages.engine import engine_switches, error_text, new_lammps
from glasskit.util.errors import LammpsFailure
from glasskit.util.render import render
from glasskit.stages.simulate import Snapshot, _potential_context, checked_snapshot
from glasskit.campaign.spec import Spec


# /is/stop: met etol | ran into maxiter | met ftol (the final force norm is below ftol)
STOP_TOLERANCE, STOP_ITERATIONS, STOP_FORCE = 0, 1, 2
STOP_NAMES = {STOP_TOLERANCE: "energy tolerance", STOP_ITERATIONS: "iteration limit",
              STOP_FORCE: "force tolerance"}


def minimize_input(spec: Spec, data_file: str | Path) -> str:
    m = spec.minimize
    return render("lammps/minimize.in.j2", campaign=spec.campaign.name, data_file=str(data_file),
                  etol=m.etol, ftol=m.ftol, maxiter=m.maxiter, maxeval=m.maxeval,
                  fire_dt=m.dt, integrator=m.integrator, tmax=m.tmax, dtgrow=m.dtgrow,
                  delaystep=m.delaystep, abcfire="yes" if m.abcfire else "no", **_potential_context(spec))


class InherentStructures:
    """Minimize frames of one campaign on a single, reused LAMMPS instance.

    >>> ism = InherentStructures(spec, workdir / "init.data")
    >>> pe, snap = ism.minimize(x)   # x: (N, 2) unscaled coordinates, atom-id order
    >>> ism.iterations, ism.stop     # FIRE iterations and why it stopped (STOP_*)
    >>> ism.fnorm                    # final force 2-norm (epsilon / sigma)
    """

    def __init__(self, spec: Spec, data_file: Path, comm=None, log: Path | None = None):
        self.log, self.failures = log, 0
        m = spec.minimize
        self._command = f"minimize {m.etol!r} {m.ftol!r} {m.maxiter} {m.maxeval}"
        self.lmp = new_lammps(comm, log, engine_switches(spec.engine))
        try:
            self.lmp.commands_string(minimize_input(spec, data_file))
        except Exception as exc:
            self.lmp.close()
            raise LammpsFailure(-1, error_text(exc) + (f" (LAMMPS log: {log})" if log else "")) from None
        self.n = int(self.lmp.get_natoms())
        self._buf = np.zeros((self.n, 3), dtype=np.float64)
        self.maxiter, self.ftol = m.maxiter, m.ftol
        self.iterations, self.stop, self.fnorm = 0, STOP_TOLERANCE, 0.0  # of the last minimization

    def minimize(self, x: np.ndarray, index: int = -1) -> tuple[float, Snapshot]:
        """FIRE from positions ``x`` (N, 2) in sigma; returns (pe per particle, minimized snapshot)."""
        if x.shape != (self.n, 2) or not np.isfinite(x).all():
            raise LammpsFailure(index, f"frame coordinates must be finite with shape ({self.n}, 2), got {x.shape}")
        self._buf[:, :2] = x
        self._buf[:, 2] = 0.0
        try:
            self.lmp.scatter_atoms("x", 1, 3, np.ctypeslib.as_ctypes(self._buf.reshape(-1)))
            step0 = int(self.lmp.extract_global("ntimestep"))
            self.lmp.command(self._command)
        except Exception as exc:
            self.failures += 1
            raise LammpsFailure(index, error_text(exc) + (f" (LAMMPS log: {self.log})" if self.log else "")) from None
        # each minimizer iteration advances the timestep by one: the iteration count tells
        # whether FIRE met a tolerance or ran into maxiter
        self.iterations = int(self.lmp.extract_global("ntimestep")) - step0
        self.fnorm = float(self.lmp.get_thermo("fnorm"))  # 2-norm of all forces, as LAMMPS tests ftol
        self.stop = (STOP_ITERATIONS if self.iterations >= self.maxiter
                     else STOP_FORCE if self.fnorm < self.ftol else STOP_TOLERANCE)
        pe = float(self.lmp.get_thermo("pe"))
        snap = checked_snapshot(self.lmp, self.n, index, "the end of its minimization")
        if not np.isfinite(pe):
            raise LammpsFailure(index, "non-finite inherent-structure energy: FIRE diverged")
        return pe, snap

    def close(self) -> None:
        self.lmp.close()
        if self.log is not None:
            from glasskit.stages.engine import settle_log
            settle_log(self.log, failed=self.failures > 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


