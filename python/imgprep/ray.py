"""imgprep on a Ray cluster: the inputs cut into parts, one `imgprep.run` per part on the
cluster's nodes, then `imgprep.merge` into one dataset.

    import imgprep, imgprep.ray
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    summary = imgprep.ray.run("/shared/photos", "/shared/out", config, cpus_per_part=4)

    imgprep-ray /shared/photos -o /shared/out --cpus-per-part 4 --preset imagenet --dtype uint8
    python -m imgprep.ray ...            (the same, where no console script is installed)

INPUT and OUT must be the same paths on every node (a shared file system). The result is the
files that one ``imgprep.run(INPUT, OUT, config)`` writes, row for row and byte for byte: the
driver lists the inputs as the command does, each part K of N is ``imgprep.run(...,
shard="K/N")`` into OUT/part-0000K-of-0000N, and the merge joins them in the whole list's order.
A part whose worker crashed is retried (``max_retries``) and resumes where it stopped (complete
shards are kept); a part that keeps failing is reported, by number and reason, once the other
parts have finished, so that running the same command again does only what is left.
Only summaries (counts, seconds, folder, node) go through Ray's object store, never tensors.

``ImageBatchTransform`` is the same preprocessing as a Ray Data ``map_batches`` callable.
``LocalCluster`` starts a cluster of several nodes on this machine, on 127.0.0.1 only, for trying
this module out, its tests and its benchmark.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

try:
    import ray
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("imgprep.ray needs Ray: pip install 'imgprep[ray]' (or 'ray[data]')") from e

import imgprep
from imgprep import Config, UsageError, _imgprep

__all__ = ["run", "main", "ImageBatchTransform", "PartsFailed", "PartMismatch", "LocalCluster",
           "part_folder", "default_parts"]


class PartsFailed(RuntimeError):
    """Parts that failed after their retries: ``failures`` maps each part's index to the
    reason; ``summaries`` holds the summaries of the parts that completed."""

    def __init__(self, message: str, failures: dict[int, str], summaries: list[dict]):
        super().__init__(message)
        self.failures = failures
        self.summaries = summaries


class PartMismatch(ValueError):
    """A part saw another input list than the driver (not retried)."""


def part_folder(out: str | os.PathLike, k: int, n: int) -> Path:
    """The folder that part k of n writes: OUT itself for one part, else
    OUT/part-0000K-of-0000N."""
    return Path(_imgprep.part_folder(os.fspath(out), k, n))


def _check_part_record(folder: Path, k: int, n: int, count: int, fingerprint: str) -> None:
    """Refuses a part folder whose meta.json records another input list than the driver's."""
    if n == 1:
        return
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return  # no readable meta.json: imgprep.run decides what the folder holds
    whole = (meta.get("part") or {}).get("whole") or {}
    if whole.get("count") != count or whole.get("fingerprint") != fingerprint:
        raise PartMismatch(
            f"{folder}: this node lists {whole.get('count')} inputs (fingerprint "
            f"{whole.get('fingerprint')}) where the driver listed {count} (fingerprint "
            f"{fingerprint}): INPUT must be the same files, seen the same way, on every node")


def _node() -> tuple[str, str]:
    try:
        node_id = ray.get_runtime_context().get_node_id()
    except Exception:  # not in a Ray worker (called directly)
        node_id = ""
    return node_id, socket.gethostname()


def _run_part(input: str, out: str, config: Config, k: int, n: int, count: int,
              fingerprint: str, threads: int, engine: str) -> dict:
    """Part k of n, in a Ray worker: resumes what an earlier attempt left, checks that the
    part's inputs are the driver's, and returns the summary (no tensors). The config travels
    as its preset and settings (Config pickles so)."""
    folder = part_folder(out, k, n)
    resume = (folder / "meta.json").is_file()
    if resume:
        _check_part_record(folder, k, n, count, fingerprint)
    shard = {"shard": f"{k}/{n}"} if n > 1 else {}
    summary = imgprep.run(input, out, config, threads=threads, engine=engine, quiet=True,
                          resume=resume, **shard)
    _check_part_record(folder, k, n, count, fingerprint)
    if n == 1 and summary["inputs"] != count:
        raise PartMismatch(f"{input}: this node lists {summary['inputs']} inputs where the "
                           f"driver listed {count}: INPUT must be the same files on every node")
    if summary.get("interrupted"):
        raise RuntimeError(f"part {k} of {n} was interrupted (complete shards kept)")
    node_id, host = _node()
    keep = ("inputs", "processed", "failed", "failed_in_all", "skipped", "seconds",
            "images_per_second", "already_complete", "stopped_early", "exit_code", "warnings")
    result = {key: summary[key] for key in keep if key in summary}
    result.update(part=k, parts=n, folder=str(folder), resumed=resume, node_id=node_id,
                  hostname=host, pid=os.getpid())
    return result


_run_part_remote = ray.remote(_run_part)

# Retried as well as worker crashes: errors that another attempt (maybe on another node) can get
# past (OutputError is an OSError; WorkerError and GpuError are RuntimeErrors). Usage and input
# errors and a mismatched input list are not retried: they would fail the same way.
_RETRIED = [OSError, RuntimeError]


def _reason(error: BaseException) -> str:
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _connect(address: str | None) -> bool:
    """Connects to Ray unless the caller already has; True when this call did."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"address": address, "logging_level": logging.WARNING}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)
    return True


def default_parts(cpus_per_part: float = 1, gpus_per_part: float = 0) -> int:
    """As many parts as the connected cluster runs at once: its CPUs / cpus_per_part (and its
    GPUs / gpus_per_part when parts take GPUs), at least 1."""
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 1) // cpus_per_part) if cpus_per_part > 0 else 1
    if gpus_per_part > 0:
        slots = min(slots, int(resources.get("GPU", 0) // gpus_per_part))
    return max(1, slots)


_NOT_RUN_OPTIONS = {"shard": "imgprep.ray cuts the inputs into parts itself: give parts=N",
                    "dry_run": "use imgprep.plan for what would be processed"}


def run(input: str | os.PathLike, out: str | os.PathLike, config: Config | None = None,
        parts: int | None = None, cpus_per_part: float = 1, gpus_per_part: float = 0,
        max_retries: int = 3, address: str | None = None, progress: bool = True,
        **run_options: Any) -> dict:
    """Runs ``imgprep.run(input, out, config, **run_options)`` as `parts` Ray tasks, one per part
    of the inputs, then merges the parts in OUT. OUT's files are those of one run, byte for byte.

    parts: how many parts (default: as many as the cluster runs at once, its CPUs divided by
    cpus_per_part, and by GPUs when gpus_per_part > 0; at least 1, at most the number of
    inputs). Each part is a task with num_cpus=cpus_per_part, num_gpus=gpus_per_part, running
    imgprep with threads=cpus_per_part (unless run_options give threads) and the GPU engine
    when gpus_per_part > 0, else the CPU engine. max_retries: attempts after a worker crash, an
    output error or a GPU/worker error (each resumes the part). address: given to ray.init when
    Ray is not initialized yet (None: RAY_ADDRESS or a new local Ray); a Ray this call
    connected to is disconnected at the end, one the caller started is left as it is.
    progress: a line on stderr as each part finishes.

    A part that still fails raises PartsFailed, naming it ("part 1 of 4") and why, once the
    other parts have finished; running again resumes only what is left.
    Returns parts, inputs, processed, failed (inputs that failed, of all), seconds (wall, the
    whole call), images_per_second (processed / seconds), nodes (the node ids that ran parts),
    hosts, part_summaries (by part), merge (imgprep.merge's summary; None for one part), out
    and exit_code (0, or 1 when some inputs failed, as the command's).
    """
    started = time.monotonic()
    for name, why in _NOT_RUN_OPTIONS.items():
        if run_options.get(name):
            raise UsageError(f"{name}: {why}")
        run_options.pop(name, None)
    run_options.pop("resume", None)  # every part resumes what an earlier attempt left
    run_options.pop("quiet", None)   # parts are always quiet; progress=False quiets the driver
    if not cpus_per_part > 0:
        raise UsageError(f"cpus_per_part must be more than 0, got {cpus_per_part}")
    if gpus_per_part < 0:
        raise UsageError(f"gpus_per_part must be 0 or more, got {gpus_per_part}")
    if parts is not None and (not isinstance(parts, int) or parts < 1):
        raise UsageError(f"parts must be an integer of 1 or more, got {parts!r}")
    engine = run_options.pop("engine", None) or ("gpu" if gpus_per_part > 0 else "cpu")
    if engine != "cpu" and gpus_per_part <= 0:
        raise UsageError(f"engine={engine!r} needs GPUs: give gpus_per_part (a part given no "
                         "GPU runs the CPU engine)")
    threads = run_options.pop("threads", None) or max(1, int(cpus_per_part))
    config = (config or Config()).replace(**run_options)
    out = os.fspath(out)
    input = os.fspath(input)

    # The whole list, as the command lists it (the driver itself may have no GPU: auto).
    whole = imgprep.plan(input, out, config, engine="cpu" if engine == "cpu" else "auto")
    count, fingerprint = whole["all_inputs"], whole["fingerprint"]

    connected = _connect(address)
    try:
        n = parts or default_parts(cpus_per_part, gpus_per_part)
        n = max(1, min(n, count))
        say = (lambda text: print(f"imgprep-ray: {text}", file=sys.stderr, flush=True)) \
            if progress else (lambda text: None)
        alive = sum(1 for node in ray.nodes() if node.get("Alive"))
        say(f"{count} inputs in {n} parts on {alive} nodes; engine {engine}, {threads} "
            f"thread{'s' if threads != 1 else ''} and {cpus_per_part:g} CPU"
            + (f", {gpus_per_part:g} GPU" if gpus_per_part else "") + " per part")
        pending = {}
        for k in range(n):
            task = _run_part_remote.options(
                name=f"imgprep part {k} of {n}", num_cpus=cpus_per_part,
                num_gpus=gpus_per_part, max_retries=max_retries, retry_exceptions=_RETRIED)
            ref = task.remote(input, out, config, k, n, count, fingerprint, threads, engine)
            pending[ref] = k
        summaries: dict[int, dict] = {}
        failures: dict[int, str] = {}
        done_inputs = processed = 0
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    k = pending.pop(ref)
                    try:
                        s = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        failures[k] = _reason(e)
                        say(f"part {k} of {n} failed: {failures[k]}")
                        continue
                    summaries[k] = s
                    done_inputs += s["inputs"]
                    processed += s["processed"]
                    elapsed = time.monotonic() - started
                    say(f"{len(summaries) + len(failures)}/{n} parts done, {done_inputs} of "
                        f"{count} inputs, {processed / elapsed if elapsed else 0:.0f} images/s "
                        f"(part {k}: {s['processed']} in {s['seconds']:.2f} s on "
                        f"{s['hostname']} {s['node_id'][:8]}"
                        + (", resumed" if s["resumed"] else "") + ")")
        except KeyboardInterrupt:
            for ref in pending:  # each part stops as Ctrl-C stops the command: shards kept
                ray.cancel(ref)
            raise
    finally:
        if connected:
            ray.shutdown()

    ordered = [summaries[k] for k in sorted(summaries)]
    if failures:
        lines = [f"part {k} of {n} failed: {why}" for k, why in sorted(failures.items())]
        raise PartsFailed(
            "; ".join(lines) + f" ({len(summaries)} of {n} parts complete in {out}; run again "
            "to resume what is left)", failures, ordered)

    merged = imgprep.merge(out) if n > 1 else None
    failed = merged["failed"] if merged else ordered[0]["failed_in_all"]
    seconds = time.monotonic() - started
    nodes = sorted({s["node_id"] for s in ordered})
    say(f"merged {n} parts into {out}: {count} inputs, {failed} failed, {seconds:.2f} s, "
        f"{processed / seconds:.0f} images/s on {len(nodes)} node{'s' if len(nodes) != 1 else ''}")
    return {
        "parts": n, "inputs": count, "processed": processed, "failed": failed,
        "seconds": seconds, "images_per_second": processed / seconds if seconds else 0.0,
        "nodes": nodes, "hosts": sorted({s["hostname"] for s in ordered}),
        "part_summaries": ordered, "merge": merged, "out": out,
        "exit_code": 1 if failed else 0,
    }


# --------------------------------------------------------------------------------------------
# imgprep-ray: the command line
# --------------------------------------------------------------------------------------------

_USAGE = """imgprep-ray INPUT -o OUT [--parts N] [--cpus-per-part C] [--gpus-per-part G]
                   [--max-retries R] [--address ADDR] [--quiet] [--preset NAME]
                   [any setting of `imgprep run`: --NAME VALUE or --FLAG]"""

_EPILOG = """Any other option is a setting of `imgprep run`, with the command's name and value:
--resize shorter:256 --crop center:224 --dtype uint8 --shard-size 512 (flags such as --strip take
no value). Exit code 0 when every input succeeded, 1 when some failed, 2 for bad usage or a
part that kept failing (the reason on stderr), 130 when interrupted."""


def _settings_from(words: Sequence[str]) -> dict:
    """`--name value` and `--flag` words as Config keyword settings."""
    flags = {s["name"] for s in imgprep.settings() if s["flag"]}
    settings: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or word == "--":
            raise UsageError(f"unexpected argument {word!r} (settings are --NAME VALUE)")
        name, eq, value = word[2:].partition("=")
        if not eq:
            if name in flags:
                value = True
            elif i + 1 < len(words):
                i += 1
                value = words[i]
            else:
                raise UsageError(f"--{name} needs a value")
        settings[name.replace("-", "_")] = value
        i += 1
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgprep-ray", usage=_USAGE, epilog=_EPILOG,
                                     description="imgprep run on a Ray cluster: one task per "
                                     "part of INPUT, then imgprep merge OUT.")
    parser.add_argument("input", metavar="INPUT")
    parser.add_argument("-o", "--out", required=True, metavar="OUT")
    parser.add_argument("--parts", type=int, help="parts (default: as many as the cluster "
                        "runs at once)")
    parser.add_argument("--cpus-per-part", type=float, default=1, help="Ray CPUs and imgprep "
                        "threads of each part (default 1)")
    parser.add_argument("--gpus-per-part", type=float, default=0, help="Ray GPUs of each part; "
                        "more than 0 runs the GPU engine (default 0)")
    parser.add_argument("--max-retries", type=int, default=3, help="attempts after a crash or "
                        "an output error, each resuming the part (default 3)")
    parser.add_argument("--address", help="the Ray cluster (default: RAY_ADDRESS, else a new "
                        "local Ray)")
    parser.add_argument("--preset", help="as imgprep run's --preset")
    parser.add_argument("--quiet", action="store_true", help="errors only")
    args, rest = parser.parse_known_args(argv)
    try:
        settings = _settings_from(rest)
        config = Config(args.preset, **settings)
        summary = run(args.input, args.out, config, parts=args.parts,
                      cpus_per_part=args.cpus_per_part, gpus_per_part=args.gpus_per_part,
                      max_retries=args.max_retries, address=args.address,
                      progress=not args.quiet)
    except KeyboardInterrupt:
        print("imgprep-ray: interrupted (complete shards kept; run again to resume)",
              file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError, TypeError) as e:
        print(f"imgprep-ray: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"{summary['inputs']} inputs, {summary['failed']} failed, "
              f"{summary['seconds']:.2f} s, {summary['images_per_second']:.0f} images/s, "
              f"{summary['parts']} parts on {len(summary['nodes'])} nodes: {summary['out']}")
    return summary["exit_code"]


# --------------------------------------------------------------------------------------------
# Ray Data
# --------------------------------------------------------------------------------------------

class ImageBatchTransform:
    """imgprep's preprocessing as a Ray Data callable class:

        ds = ray.data.from_items([{"path": p} for p in paths])
        ds = ds.map_batches(imgprep.ray.ImageBatchTransform, batch_format="numpy",
                            fn_constructor_kwargs={"config": config}, concurrency=4)

    Each batch gets an "image" column, the tensors of ``imgprep.process`` ((N, 3, H, W), or
    (N, H, W, 3) for layout="nhwc", in the config's dtype; the config must give one output
    size), and an "error" column: "" where the row's image succeeded, else why it failed (its
    image is zeros). Failed rows are flagged, never raised. The row's image is read from the
    path in `path_column`, or, with `bytes_column`, from that column's encoded bytes (written
    to a private temporary folder, removed after the batch). `config` is an imgprep.Config
    (it pickles as its preset and settings) or None; `settings` are added to it. threads:
    imgprep's threads (default: the CPUs Ray gave this actor, else all cores); without a GPU
    from Ray the CPU engine runs.
    """

    def __init__(self, config: Config | None = None, *, path_column: str = "path",
                 bytes_column: str | None = None, image_column: str = "image",
                 error_column: str = "error", threads: int | None = None, **settings: Any):
        config = (config or Config()).replace(**settings)
        assigned = {}
        if ray.is_initialized():
            try:
                assigned = ray.get_runtime_context().get_assigned_resources()
            except Exception:
                assigned = {}
        if threads is None and assigned.get("CPU"):
            threads = max(1, int(assigned["CPU"]))
        if "engine" not in config._settings and not assigned.get("GPU"):
            config = config.replace(engine="cpu")
        if threads is not None:
            config = config.replace(threads=threads)
        self.config = config
        self.path_column = path_column
        self.bytes_column = bytes_column
        self.image_column = image_column
        self.error_column = error_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.bytes_column is None:
            paths = [os.fspath(p) for p in batch[self.path_column]]
            images, status = imgprep.process(paths, self.config)
        else:
            with tempfile.TemporaryDirectory(prefix="imgprep-batch-") as folder:
                paths = []
                for i, data in enumerate(batch[self.bytes_column]):
                    path = os.path.join(folder, f"{i:08d}")  # the format is read from the bytes
                    with open(path, "wb") as f:
                        f.write(bytes(data))
                    paths.append(path)
                images, status = imgprep.process(paths, self.config)
        out = dict(batch)
        out[self.image_column] = images
        out[self.error_column] = np.array([s or "" for s in status], dtype=object)
        return out


# --------------------------------------------------------------------------------------------
# A cluster of several nodes on this machine
# --------------------------------------------------------------------------------------------

def _stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the process's name (state, parent pid, ...); None
    when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if fields and fields[0] != b"Z" else None


def _alive(pid: int) -> bool:
    """Whether pid is a live process (not gone, not a zombie)."""
    return _stat_fields(pid) is not None


class LocalCluster:
    """A Ray cluster of `nodes` nodes on this machine, every node and server on 127.0.0.1 only
    (ray.cluster_utils.Cluster, with Ray's multi-machine addressing off for this process and
    the cluster's), with a private temporary folder. For trying imgprep.ray, tests and
    benchmarks; stop() (or leaving the ``with`` block) ends every process of this cluster, and
    only those: each carries IMGPREP_RAY_CLUSTER=<its folder> in its environment.

        with imgprep.ray.LocalCluster(nodes=2, cpus_per_node=1) as cluster:
            imgprep.ray.run("photos", "out", config, address=cluster.address)
    """

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, gpus_per_node: int = 0,
                 object_store_bytes: int = 100 * 2**20, env: dict | None = None):
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.gpus_per_node = gpus_per_node
        self.object_store_bytes = object_store_bytes
        self.extra_env = dict(env or {})
        self.folder: str | None = None
        self.address: str | None = None
        self.start_seconds: float | None = None
        self._cluster = None
        self._saved: tuple | None = None

    def _loopback_only(self) -> None:
        """Ray gives a node the machine's address unless multi-machine clusters are off
        (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: then every address is 127.0.0.1). The setting is
        read when ray is imported, so this process's copy is set too, until stop()."""
        from ray._private import ray_constants
        env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
               "IMGPREP_RAY_CLUSTER": self.folder, **self.extra_env}
        self._saved = ({k: os.environ.get(k) for k in env}, ray_constants.ENABLE_RAY_CLUSTER)
        os.environ.update(env)
        ray_constants.ENABLE_RAY_CLUSTER = False

    def _restore(self) -> None:
        if self._saved is None:
            return
        from ray._private import ray_constants
        saved_env, ray_constants.ENABLE_RAY_CLUSTER = self._saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved = None

    def start(self, connect: bool = True) -> "LocalCluster":
        """Starts the nodes (and connects this process unless connect=False) and waits until
        every node is alive; start_seconds is how long that took."""
        from ray.cluster_utils import Cluster
        t0 = time.monotonic()
        # Short: Ray's socket paths live under it (at most 107 bytes).
        self.folder = tempfile.mkdtemp(prefix="imgprep-ray-", dir="/tmp")
        node = {"num_cpus": self.cpus_per_node, "num_gpus": self.gpus_per_node,
                "object_store_memory": self.object_store_bytes}
        try:
            self._loopback_only()
            self._cluster = Cluster(initialize_head=True, connect=False,
                                    head_node_args={**node, "include_dashboard": False,
                                                    "temp_dir": self.folder})
            for _ in range(self.nodes - 1):
                self._cluster.add_node(**node)
            self.address = self._cluster.address
            if connect:
                self.connect()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def connect(self, timeout: float = 120) -> None:
        if not ray.is_initialized():
            ray.init(address=self.address, logging_level=logging.WARNING)
        deadline = time.monotonic() + timeout
        while sum(1 for n in ray.nodes() if n.get("Alive")) < self.nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.nodes} Ray nodes not alive after {timeout} s")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        """This cluster's live processes: those whose environment names its folder (Ray's
        servers and raylets) and all their descendants (workers and agents, whose titles
        overwrite their environment)."""
        if not self.folder:
            return []
        marker = f"IMGPREP_RAY_CLUSTER={self.folder}".encode()
        parents: dict[int, int] = {}
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            fields = _stat_fields(entry)
            if fields is None:
                continue
            try:
                parents[int(entry)] = int(fields[1])
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.add(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        grew = True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in found} - found
            found |= more
            grew = bool(more)
        return sorted(found)

    def stop(self, timeout: float = 5) -> None:
        """Disconnects this process and ends the cluster's processes (SIGTERM, then SIGKILL
        after `timeout` seconds), then removes its folder."""
        if ray.is_initialized():
            try:
                ray.shutdown()
            except Exception:
                pass
        pids = set(self.pids())  # taken once, before the tree comes apart
        if self._cluster is not None:
            try:
                self._cluster.shutdown()
            except Exception:
                pass
            self._cluster = None
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + wait
            while True:
                pids = {pid for pid in pids | set(self.pids()) if _alive(pid)}
                if not pids or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if not pids:
                break
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        self._restore()

    def __enter__(self) -> "LocalCluster":
        return self.start() if self.address is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    # The module's own functions (not __main__'s copies) must be what Ray pickles by reference.
    from imgprep.ray import main as _main
    sys.exit(_main())
