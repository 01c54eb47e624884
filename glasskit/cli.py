"""glasskit's command line: parse, then call the library. No logic lives here."""
from __future__ import annotations

import argparse
import json
import sys

from glasskit import __version__
from glasskit.util.errors import GlasskitError, run_command
from glasskit.util.log import setup

DEFAULT_SPEC = "jobs/simulate.toml"

EPILOG = """\
examples:
  glasskit submit simulate --array 0-19999 --dry-run        # show the sbatch script, submit nothing
  glasskit submit simulate --spec jobs/demo.toml --array 0-7 --executor local
  glasskit submit simulate --array 0-19999%50 --cluster mycluster
  glasskit submit minimize --spec jobs/demo.toml --array 0-7 --executor local
  glasskit status --spec jobs/demo.toml
  glasskit collect --spec jobs/demo.toml && glasskit verify --spec jobs/demo.toml
  glasskit submit train --model dmpnn --dataset 1 --spec jobs/demo.toml --executor local --tasks 2
  glasskit submit cv --model dmpnn --preset model-i --dataset 1 --spec jobs/demo.toml --executor local
  glasskit submit search --model dmpnn --dataset 1 --spec jobs/demo.toml --evals 8 --workers 2

--array names *simulation* indices (Slurm syntax: 0-99, 0-9,20,40-50, 0-99:2, %N throttle);
glasskit maps them onto at most MaxArraySize array tasks x MPI ranks of the cluster profile
(--cluster NAME: ./hpc/clusters/NAME.toml, $GLASSKIT_CLUSTERS, then the shipped ones; or a
path to a .toml file). Re-submitting runs only what is not done yet.
"""


def _campaign_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spec", default=DEFAULT_SPEC, help=f"campaign spec (default {DEFAULT_SPEC})")
    p.add_argument("--workdir", help="campaign directory (default: [campaign] workdir, or runs/<name>)")


TRAIN_EPILOG = """\
examples:
  glasskit submit train --model cnn --dataset 1 --spec jobs/demo.toml --executor local
  glasskit submit train --model dmpnn --dataset 1 --spec jobs/demo.toml --executor local --tasks 2
  glasskit submit train --model dmpnn --preset model-ii --dataset 6 --cluster local --tasks 2 --dry-run
  glasskit submit cv --model dmpnn --preset model-i --dataset 1 --spec jobs/demo.toml
  glasskit submit search --model dmpnn --dataset 1 --spec jobs/demo.toml --evals 8            # in process
  glasskit submit search --model dmpnn --dataset 1 --spec jobs/demo.toml --evals 8 --workers 2
  glasskit submit search --model dmpnn --dataset 1 --evals 200 --workers 16 --cluster mysite \
      --mongo mongodb://db.host:27017/glass
  glasskit submit cv --model dmpnn --dataset 1 --search --evals 8 --workers 2 --spec jobs/demo.toml

Settings come from jobs/models.toml ([cnn], [dmpnn], [train]); --preset applies a [preset.NAME]
table, --hp key=value any single setting. The run directory runs/<campaign>/models/<run> is named
from the resolved settings: the same command again skips a finished run and resumes an
interrupted one from its last epoch checkpoint.

search / cv --search: hyperopt TPE over [search.<model>] of jobs/models.toml, objective
-(inner-test AUC). Without --workers the trials run one after another in this process
(hyperopt.Trials); --workers N runs them on N submitit workers sharing a MongoDB-wire store:
--mongo URL, or an embedded jongodb server on loopback that glasskit starts and stops. Every
finished trial is kept in runs/<campaign>/searches/<experiment>/trials.jsonl; the same command
again resumes the experiment (more --evals extend it) and never redoes a finished trial.
"""


JSON_HELP = "print the result as JSON on stdout (ids, paths, states) for scripts; log lines stay on stderr"


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def _launch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", default="local", help="cluster profile: a name (./hpc/clusters/NAME.toml, $GLASSKIT_CLUSTERS, "
                   "shipped: local, example-supercomputer) or a .toml path (default local)")
    p.add_argument("--executor", choices=["slurm", "local"],
                   help="slurm (sbatch) or local (this machine); default: slurm if sbatch exists")
    _json_arg(p)


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, choices=["cnn", "dmpnn"], help="which classifier")
    p.add_argument("--dataset", required=True, type=int, help="dataset number (jobs/datasets.toml)")
    p.add_argument("--preset", help="a [preset.NAME] of jobs/models.toml (model-i, model-ii, model-iii)")
    p.add_argument("--hp", action="append", metavar="KEY=VALUE", help="override one setting (repeatable)")
    _campaign_args(p)
    _launch_args(p)
    p.add_argument("--tasks", type=int, default=1, help="DDP processes (GPUs on a GPU cluster; default 1)")
    p.add_argument("--models", default="jobs/models.toml", help="model settings (default jobs/models.toml)")
    p.add_argument("--datasets", default="jobs/datasets.toml", help="dataset definitions")
    p.add_argument("--wait", action="store_true", help="on Slurm, wait for the job and report how it ended")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved settings, the submitit parameters and the sbatch script")


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--evals", type=int, default=8, help="trials of the search (default 8; the authors' script: 20)")
    p.add_argument("--workers", type=int, default=0,
                   help="parallel workers on a MongoDB-wire store (default 0: trials in this process)")
    p.add_argument("--mongo", metavar="URL", help="a site's MongoDB, mongodb://host:port/db "
                   "(default: the embedded server, started on loopback for the search)")
    p.add_argument("--mongo-host", metavar="ADDR", default="",
                   help="bind the embedded server to ADDR instead of loopback ('auto': the driver's own host "
                   "address), so Slurm workers on other nodes reach it; it has no authentication: trusted networks only")
    p.add_argument("--driver", choices=("here", "slurm"),
                   help="where the search driver runs: here, or as a Slurm job of its own (default with "
                   "--executor slurm: nothing stays on the login node)")
    p.add_argument("--stale-after", type=float, default=60.0, metavar="S",
                   help="re-queue a trial whose worker has been silent S seconds (default 60)")


def _submit_parser(sub) -> None:
    """``glasskit submit STAGE``: the simulation stages and the learning ones."""
    s = sub.add_parser("submit", help="render and submit a stage: simulate, minimize, train, cv, search",
                       description="Render the job of a stage and submit it (Slurm) or run it on "
                       "this machine (local).", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    stages = s.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage, what in (("simulate", "cooling runs of the campaign's simulations"),
                        ("minimize", "inherent structures of the simulated frames")):
        st = stages.add_parser(stage, help=what, description=f"Submit {what} as an array job.",
                               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        st.add_argument("--array", help="simulation indices, e.g. 0-19999 or 0-7,12%%4 (default: all)")
        _campaign_args(st)
        _launch_args(st)
        st.add_argument("--ranks", type=int, help="MPI ranks per array task (default: the profile's ranks_per_task)")
        st.add_argument("--redo", action="store_true",
                        help="also re-run done simulations that glasskit verify condemns (corrupt or inconsistent)")
        st.add_argument("--dry-run", action="store_true",
                        help="print the sbatch script and the first LAMMPS input; write and submit nothing")
        st.add_argument("--allow-long", action="store_true",
                        help="with --executor local: run even when the bill needs more than a day of this "
                             "machine's cores (refused otherwise)")
    for stage, what in (("train", "train one CNN or D-MPNN (DDP over --tasks processes, via submitit)"),
                        ("cv", "three-fold nested cross-validation: one training run per outer fold"),
                        ("search", "hyperparameter search: TPE trials, in process or on --workers")):
        st = stages.add_parser(stage, help=what, description=what[0].upper() + what[1:] + ".",
                               epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        _train_args(st)
        if stage == "cv":
            st.add_argument("--folds", type=int, default=3, help="outer folds K (default 3, the paper's)")
            st.add_argument("--search", action="store_true",
                            help="choose each fold's hyperparameters by a TPE search on its outer-train set")
        if stage != "train":
            _search_args(st)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="glasskit", description="LAMMPS glass campaigns on Slurm: "
                                  "simulate, minimize, collect, learn.", epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"glasskit {__version__}")
    noise = top.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    noise.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _submit_parser(sub)

    r = sub.add_parser("run", help="run one array task (what the sbatch script calls)")
    r.add_argument("stage", choices=["simulate", "minimize"])
    _campaign_args(r)
    r.add_argument("--sims", required=True, help="all simulations of the submission (ranges)")
    r.add_argument("--tasks", type=int, required=True, help="number of array tasks in the submission")
    r.add_argument("--ranks", type=int, required=True, help="MPI ranks per task in the plan")
    r.add_argument("--task", type=int, required=True, help="this task's array index")
    r.add_argument("--submission", required=True, help="submission id (names the shard directory)")
    r.add_argument("--balance", choices=["cost", "count"], default="count",
                   help="how the submission split its simulations into blocks (written by submit)")

    st = sub.add_parser("status", help="done / running / failed / missing simulations of a campaign")
    _campaign_args(st)
    st.add_argument("--json", action="store_true",
                    help="machine-readable output, with provenance (spec, template hashes, LAMMPS "
                         "version) and the seed of every simulation")

    c = sub.add_parser("collect", help="one campaign HDF5 of virtual datasets over the shards (no copy)",
                       description="Write <workdir>/campaign.h5: one row per simulation, every dataset with its units, "
                       "dimension names and meaning, the shards' provenance in /provenance/shards. By default its "
                       "per-frame datasets are HDF5 virtual datasets over the shards (no copy: keep shards/ beside "
                       "it); --standalone copies the data in, so the file can be copied anywhere and opened with "
                       "plain h5py.")
    _campaign_args(c)
    c.add_argument("-o", "--output", help="campaign file (default <workdir>/campaign.h5)")
    c.add_argument("--standalone", action="store_true",
                   help="copy the data in (a file that travels without its shards) instead of mapping them")
    _json_arg(c)

    e = sub.add_parser("export", help="frames in the field's formats: H5MD, GSD, extended XYZ, LAMMPS data",
                       description="Write selected frames of the collected campaign file for other tools: h5md "
                       "(H5MD 1.1), gsd (HOOMD's format: freud, OVITO, HOOMD), xyz (extended XYZ: ASE, OVITO), "
                       "lammps-data (a LAMMPS data file: a starting point for LAMMPS, OVITO, ASE; several frames "
                       "-> a directory of files). Positions in sigma_AA.",
                       epilog="examples:\n"
                       "  glasskit export --spec jobs/demo.toml --format gsd --out glass.gsd --T 0.05 --t-cool 200\n"
                       "  glasskit export --spec jobs/demo.toml --format xyz --out sim3.xyz --sim 3\n"
                       "  glasskit export --spec jobs/demo.toml --format lammps-data --out start.data --sim 3 --frames 199\n"
                       "  glasskit export --file campaign.h5 --format h5md --out is.h5 --sim 0-3 --inherent",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _campaign_args(e)
    e.add_argument("--file", help="read this campaign file instead of <workdir>/campaign.h5 (no spec needed)")
    e.add_argument("--format", required=True, choices=["h5md", "gsd", "xyz", "lammps-data"], help="output format")
    e.add_argument("--out", required=True, help="output file (lammps-data with several frames: a directory)")
    e.add_argument("--sim", help="simulation indices, e.g. 0-9,20 (default: all done)")
    e.add_argument("--frames", help="frame indices within each ramp, 0-based, e.g. 0-199:10 (default: all)")
    e.add_argument("--T", type=float, help="target temperature of the frames (epsilon_AA/k_B, within +-0.005)")
    e.add_argument("--t-cool", type=int, help="only ramps of this t_cool (MD steps)")
    e.add_argument("--inherent", action="store_true", help="inherent-structure positions (minimized frames only)")
    _json_arg(e)

    from glasskit.analysis import FIGURES
    fg = sub.add_parser("figure", help="the paper's figures from a campaign and its models: glasskit figure NAME [ARGS]",
                        description="Run the post-hoc figure script NAME with ARGS (glasskit figure NAME --help shows "
                        "them); each writes PNG, PDF and a tidy CSV. The same as python -m glasskit.analysis.NAME.",
                        epilog="figures:\n" + "\n".join(f"  {k:<14} {v}" for k, v in FIGURES.items()),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    fg.add_argument("name", nargs="?", choices=sorted(FIGURES), metavar="NAME", help="which figure (--list names them)")
    fg.add_argument("--list", action="store_true", help="name the figures and what each draws")
    fg.add_argument("args", nargs=argparse.REMAINDER, help="the figure's own arguments")

    ds_ = sub.add_parser("describe", help="what every dataset of a glasskit HDF5 file holds (units, dimensions)")
    ds_.add_argument("file", help="a shard or campaign file")
    _json_arg(ds_)

    d = sub.add_parser("dataset", help="datasets 1-6: images, graphs and metadata from the campaign file")
    dsub = d.add_subparsers(dest="action", required=True, metavar="ACTION")
    db = dsub.add_parser("build", help="build dataset N (jobs/datasets.toml) from <workdir>/campaign.h5")
    db.add_argument("number", type=int, help="dataset number (1-6)")
    _campaign_args(db)
    db.add_argument("--images", action="store_true", help="render PNG images (default: images and graphs)")
    db.add_argument("--graphs", action="store_true", help="build torch-geometric graphs")
    db.add_argument("--datasets", default="jobs/datasets.toml", help="dataset definitions")
    db.add_argument("--renderer", choices=["fast", "matplotlib"], help="override [build] renderer")
    db.add_argument("--workers", type=int, help="processes (default: one per core)")
    _json_arg(db)

    v = sub.add_parser("verify", help="check every shard: readable, schema, frame counts, checksums")
    _campaign_args(v)
    _json_arg(v)

    i = sub.add_parser("init", help="lay out a project: the shipped jobs/*.toml and a cluster profile skeleton",
                       description="Copy the shipped specs into DIR/jobs/ and, with --cluster NAME, write "
                       "DIR/hpc/clusters/NAME.toml (from the example profile) for you to fill in. Existing "
                       "files are kept.")
    i.add_argument("directory", nargs="?", default=".", help="the project directory (default: here)")
    i.add_argument("--cluster", metavar="NAME", help="also write hpc/clusters/NAME.toml (then use --cluster NAME)")
    _json_arg(i)
    return top


def main(argv: list[str] | None = None) -> int:
    import os
    args = parser().parse_args(argv)
    setup(args.verbose, args.quiet)
    return run_command(lambda: _dispatch(args), "glasskit", args.verbose or os.environ.get("GLASSKIT_TRACEBACK") == "1")


def _dispatch(args) -> int:
    if args.command == "submit" and args.stage in ("train", "cv", "search"):
        from glasskit.util.paths import install_hint
        try:
            from glasskit.ml.command import submit_learning
        except ImportError as exc:
            raise GlasskitError(f"training needs the [ml] extra ({exc.name} is not installed)",
                                install_hint("ml")) from None
        report: dict = {}
        code = submit_learning(args.stage, args.model, args.dataset, preset=args.preset, hp=args.hp,
                               spec_path=args.spec, workdir=args.workdir, cluster=args.cluster,
                               executor=args.executor, tasks=args.tasks, models=args.models,
                               datasets=args.datasets, wait=args.wait, dry_run=args.dry_run,
                               folds=getattr(args, "folds", 3), search=_search_opts(args),
                               out=_out(args), report=report)
        if args.json:
            print(json.dumps({"stage": args.stage, "exit_code": code, **report}, indent=1, default=str))
        return code
    if args.command == "submit":
        from glasskit.batch.submit import submit
        return submit(args.stage, args.spec, args.array, args.cluster, args.executor,
                      dry_run=args.dry_run, workdir=args.workdir, ranks=args.ranks, redo=args.redo,
                      allow_long=args.allow_long, as_json=args.json, out=_out(args))
    if args.command == "init":
        from glasskit.batch.project import init_project
        written = init_project(args.directory, args.cluster)
        if args.json:
            print(json.dumps({"project": str(args.directory), "written": [str(p) for p in written]}, indent=1))
            return 0
        where = args.directory
        print(f"{len(written)} file(s) written under {where}. First, from {where} or any folder below it:\n"
              "  glasskit submit simulate --spec jobs/demo.toml --executor local   # the demo: 48 small ramps, "
              "minutes here\n"
              + (f"  glasskit submit simulate --cluster {args.cluster} --dry-run          # the paper campaign "
                 f"(jobs/simulate.toml) on your site, after editing hpc/clusters/{args.cluster}.toml"
                 if args.cluster else "  glasskit submit simulate --cluster NAME --dry-run   # the paper campaign "
                 "(jobs/simulate.toml) at a site: glasskit init --cluster NAME writes a profile to fill in"))
        return 0
    if args.command == "run":
        from glasskit.stages.taskcli import run_task
        return run_task(args.stage, args.spec, args.workdir, args.sims, args.tasks, args.ranks,
                        args.task, args.submission, args.balance)
    if args.command == "figure":
        return _figure(args)
    if args.command == "describe":
        from glasskit.campaign.schema import describe_file, describe_json
        try:
            text = json.dumps(describe_json(args.file), indent=1) if args.json else describe_file(args.file)
        except OSError as exc:
            raise GlasskitError(f"cannot read {args.file}: {exc}", "give a glasskit shard or campaign file") from None
        print(text)
        return 0
    if args.command == "export" and args.file:
        return _export(None, args)
    if args.command in ("status", "collect", "verify", "dataset", "export"):
        from glasskit.campaign.layout import Campaign
        from glasskit.campaign.spec import load_spec
        campaign = Campaign.of(load_spec(args.spec, args.workdir))
        return {"status": _status, "collect": _collect, "verify": _verify,
                "dataset": _dataset, "export": _export}[args.command](campaign, args)
    raise AssertionError(args.command)


def _figure(args) -> int:
    """``glasskit figure NAME ARGS``: the analysis module's main, with the CLI's error handling."""
    import importlib
    from glasskit.analysis import FIGURES, LEARNING
    if args.list or not args.name:
        print("\n".join(f"{k:<14} {v}" for k, v in FIGURES.items()))
        return 0 if args.list else 2
    try:
        module = importlib.import_module(f"glasskit.analysis.{args.name}")
    except ImportError as exc:
        if args.name in LEARNING:
            from glasskit.util.paths import install_hint
            raise GlasskitError(f"figure {args.name} reads trained models and needs the [ml] extra ({exc.name} is not "
                                "installed)", install_hint("ml")) from None
        raise
    sys.argv[0] = f"glasskit figure {args.name}"  # the script's --help and usage name it so
    return module.main(args.args)


def _out(args):
    """Where a command's human output goes: stdout, or stderr when stdout carries --json."""
    if getattr(args, "json", False):
        return lambda text="": print(text, file=sys.stderr)
    return print


def _search_opts(args) -> dict | None:
    """The search options of ``submit search`` / ``submit cv --search``; None without a search."""
    if args.stage == "search" or getattr(args, "search", False):
        return {"evals": args.evals, "workers": args.workers, "mongo": args.mongo, "stale_after": args.stale_after,
                "mongo_host": args.mongo_host, "driver": args.driver}
    if args.stage == "cv" and (args.workers or args.mongo or args.mongo_host or args.driver):
        raise GlasskitError("--workers, --mongo, --mongo-host and --driver belong to a search",
                            "add --search to choose hyperparameters by TPE")
    return None


def _status(campaign, args) -> int:
    """The campaign's state (one scan, one scheduler query), then the learning half's lines."""
    from glasskit.batch.watch import campaign_status
    from glasskit.campaign.status import report, summary_lines
    index, stages = campaign_status(campaign, provenance=args.json)
    ml = _learning_status(campaign.workdir)
    if args.json:
        print(json.dumps({**report(index, stages), "training": ml["training"], "searches": ml["searches"]}, indent=1))
        return 0
    print(f"campaign '{campaign.spec.campaign.name}' ({campaign.workdir})")
    for st in stages:
        print("\n".join(summary_lines(campaign, st)))
    print("\n".join(ml["lines"]))
    return 0


def _learning_status(workdir) -> dict:
    try:
        from glasskit.ml.status import learning_status
    except ImportError:  # the [ml] extra is not installed: no training runs to show
        return {"training": [], "searches": [], "lines": []}
    return learning_status(workdir)


def _collect(campaign, args) -> int:
    from glasskit.campaign.store import collect
    path = collect(campaign, args.output, standalone=args.standalone)
    if args.json:
        import h5py
        with h5py.File(path, "r", locking=False) as f:
            info = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()
                    if k in ("campaign", "simulated", "minimized", "standalone", "created")}
        print(json.dumps({"campaign_file": str(path), **info}, indent=1, default=str))
    else:
        print(path)
    return 0


def _export(campaign, args) -> int:
    from glasskit.campaign.export import ExportSelection, export
    from glasskit.campaign.store import open_campaign
    from glasskit.util.arrayspec import parse_array
    what = ExportSelection(sims=parse_array(args.sim, "--sim").indices if args.sim else None,
                           frames=parse_array(args.frames, "--frames").indices if args.frames else None,
                           T=args.T, t_cool=args.t_cool, inherent=args.inherent)
    with open_campaign(args.file or campaign) as reader:
        paths = export(reader, args.format, args.out, what)
    print(json.dumps({"format": args.format, "files": [str(p) for p in paths]}, indent=1) if args.json
          else "\n".join(map(str, paths)))
    return 0


def _dataset(campaign, args) -> int:
    from glasskit.data.datasets import build
    both = not (args.images or args.graphs)
    meta = build(campaign, args.number, images=args.images or both, graphs=args.graphs or both,
                 datasets_file=args.datasets, renderer=args.renderer, workers=args.workers)
    if args.json:
        m = json.loads(meta.read_text())
        print(json.dumps({"dataset": args.number, "metadata": str(meta), "directory": str(meta.parent),
                          "classes": m["classes"], "samples": len(m["samples"])}, indent=1))
    else:
        print(meta)
    return 0


def _verify(campaign, args) -> int:
    from glasskit.campaign.verify import verify
    rep = verify(campaign)
    if args.json:
        print(json.dumps({"shards": rep.shards, "rows_ok": rep.rows_ok, "problems": rep.problems,
                          "flagged": rep.flagged, "condemned": {k: sorted(v) for k, v in rep.condemned.items()},
                          "repair": rep.repair(campaign.spec.path)}, indent=1))
        return 1 if rep.problems else 0
    for line in rep.problems:
        print(f"BAD {line}")
    for line in rep.flagged:
        print(f"FLAG {line}")
    for cmd in rep.repair(campaign.spec.path):
        print(f"repair: {cmd}")
    print(f"verify: {rep.shards} shard(s), {rep.rows_ok} complete row(s) ok, {len(rep.problems)} problem(s)"
          + (f", {len(rep.flagged)} flagged (complete, but see FLAG lines)" if rep.flagged else ""))
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main())
