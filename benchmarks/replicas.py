"""Scaling over `vllm serve` replicas: the same prompts through onkobench's openai runner with 1, 2, ... N replicas.

    .venv-vllm/bin/python benchmarks/replicas.py [--replicas 3] [--copies 4] [--repeat 3] [--bind auto|spread]

Starts N replicas at once (each a `vllm serve` of a tiny local Llama on its own port, fp32, eager, a
256 MiB KV cache), lets each answer a few prompts, then runs the task `demo.icd10gm_coding` (60
diagnoses x --copies, 3-shot) through `run_task_variant` with the openai runner over the first 1, 2,
... N replicas, --per-replica concurrent requests per replica, a fresh run folder each time (nothing
reused). The replica counts take turns within each repeat, so a changing load elsewhere on the
machine hits them alike; the median per count is reported. Prints prompts per second, the ratio to
one replica, the cores the replicas kept busy (their processes' CPU seconds / wall seconds, idle
replicas included, split into API servers / vLLM engine processes / model workers), the load
average, and the cores each replica's engine bound its model threads to. Stops every replica it
started (by process group), also on Ctrl-C.

--bind auto: vLLM's default on CPU (VLLM_CPU_OMP_THREADS_BIND=auto): each replica reserves a core for
its scheduler and binds its model threads to the remaining ones, the same cores for every replica.
--bind spread: replica i binds its model threads to core i mod nproc (VLLM_CPU_OMP_THREADS_BIND=i).
On a GPU node: --model-dir of a real model and one CUDA_VISIBLE_DEVICES per replica (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Replica:
    """One `vllm serve` process group on its own port."""

    model: Path
    port: int
    log: Path
    bind: str
    proc: subprocess.Popen | None = None
    began: float = 0.0
    started_s: float = 0.0
    cores: str = "?"

    def launch(self, kv_cache_mib: int) -> None:
        binary = shutil.which("vllm", path=str(Path(sys.executable).parent)) or "vllm"
        command = [binary, "serve", str(self.model), "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32",
                   "--max-model-len", "1024", "--enforce-eager", "--served-model-name", "tiny",
                   "--kv-cache-memory-bytes", str(kv_cache_mib * 2**20)]
        # the explicit size instead of VLLM_CPU_KVCACHE_SPACE (whole GiB, which would win): 3 replicas fit beside
        # other work on a 24 GB machine
        env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"} | {"VLLM_CPU_OMP_THREADS_BIND": self.bind}
        self.began = time.monotonic()
        self.proc = subprocess.Popen(command, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_up(self, timeout_s: float) -> None:
        import httpx

        assert self.proc is not None
        while time.monotonic() - self.began < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve on port {self.port} exited: see {self.log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/models", timeout=2).status_code == 200:
                    self.started_s = time.monotonic() - self.began
                    found = re.findall(r"local_rank=0, core ids=(\[[0-9, ]*\])", self.log.read_text(errors="replace"))
                    self.cores = found[-1] if found else "?"
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError(f"vllm serve on port {self.port} did not come up in {timeout_s:g} s: see {self.log}")

    def cpu_seconds(self) -> Counter[str]:
        """CPU time (user + system) of every live process in the replica's group, by role: ``api`` (the HTTP
        server: chat template, tokens, JSON), ``engine`` (vLLM's scheduler process), ``worker`` (the model)."""
        import psutil

        seconds: Counter[str] = Counter()
        if self.proc is None:
            return seconds
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) == self.proc.pid:
                    times = process.cpu_times()
                    name = process.name()
                    role = "worker" if "Worker" in name else "engine" if "EngineCor" in name else \
                        "api" if process.pid == self.proc.pid else "other"
                    seconds[role] += times.user + times.system
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
        return seconds

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def model_config(replicas: list[Replica], per_replica: int):  # noqa: ANN201 - a ModelConfig
    from harness.config.models import ModelConfig

    return ModelConfig.model_validate({
        "name": f"tiny-served-x{len(replicas)}", "runner": "openai", "model_id": "tiny", "reasoning": False,
        "server": {"endpoints": [{"base_url": f"http://127.0.0.1:{r.port}/v1"} for r in replicas],
                   "served_model_name": "tiny", "max_concurrency": per_replica * len(replicas), "timeout_s": 120},
    })


def timed_run(task, variant, data, replicas: list[Replica], per_replica: int, out: Path,  # noqa: ANN001
              all_replicas: list[Replica]) -> tuple[float, Counter[str], int]:
    """(wall seconds, CPU seconds of every started replica, failed samples) of one whole run over ``replicas``
    in a fresh folder."""
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.runners.openai import OpenAIRunner

    cfg = model_config(replicas, per_replica)
    runner = OpenAIRunner(cfg, out)
    cpu_before = sum((r.cpu_seconds() for r in all_replicas), Counter())
    began = time.perf_counter()
    try:
        outcome = run_task_variant(RunSpec(task, variant, cfg, data), out, lambda: runner, progress=False)
    finally:
        runner.close()
    wall = time.perf_counter() - began
    cpu = sum((r.cpu_seconds() for r in all_replicas), Counter())
    cpu.subtract(cpu_before)
    return wall, cpu, outcome.summary.status_counts.get("error", 0)


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4, help="demo data set copies (60 prompts each)")
    parser.add_argument("--variant", default="3-shot")
    parser.add_argument("--repeat", type=int, default=3, help="runs per replica count (the median is reported)")
    parser.add_argument("--per-replica", type=int, default=8, help="concurrent requests per replica")
    parser.add_argument("--bind", choices=("auto", "spread"), default="auto")
    parser.add_argument("--kv-cache-mib", type=int, default=256)
    parser.add_argument("--gb-per-replica", type=float, default=2.0,
                        help="memory a replica needs; refuse to start when the machine has less than that per replica + 2 GB")
    parser.add_argument("--start-timeout", type=float, default=1200, help="seconds for the replicas to come up")
    parser.add_argument("--model-dir", type=Path, help="a model folder to serve (default: a tiny local Llama)")
    args = parser.parse_args()

    from _tiny import TASK, demo_data, tiny_llama
    from harness.config.tasks import load_task
    from harness.data import load_task_data

    needed = args.replicas * args.gb_per_replica + 2
    if mem_available_gb() < needed:
        sys.exit(f"{mem_available_gb():.1f} GB available, {needed:.1f} GB needed for {args.replicas} replicas: "
                 "not started (fewer --replicas, or later)")
    tmp = Path(tempfile.mkdtemp(prefix="onkobench-replicas-"))
    model = args.model_dir or tiny_llama(tmp)
    task = load_task(TASK)
    data = load_task_data(task, demo_data(tmp, args.copies))
    warm = type(data)(data.samples[:16], data.source, data.fingerprint)
    variant = task.variant(args.variant)
    n_prompts = len(data.samples)
    cores = os.cpu_count() or 1
    replicas = [Replica(model, free_port(), tmp / f"replica-{i}.log", "auto" if args.bind == "auto" else str(i % cores))
                for i in range(args.replicas)]

    def stop_all(*signal_args: object) -> None:
        for replica in replicas:
            replica.stop()
        if signal_args:  # called as a signal handler
            sys.exit(130)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    print(f"{n_prompts} prompts ({TASK} [{variant.name}]), {args.per_replica} concurrent per replica, bind {args.bind}, "
          f"nproc {cores}, load before {os.getloadavg()}, {mem_available_gb():.1f} GB available", flush=True)
    walls: dict[int, list[float]] = {n: [] for n in range(1, args.replicas + 1)}
    cpus: dict[int, list[Counter[str]]] = {n: [] for n in walls}
    errors = dict.fromkeys(walls, 0)
    loads: dict[int, list[float]] = {n: [] for n in walls}
    try:
        for replica in replicas:
            replica.launch(args.kv_cache_mib)
        for index, replica in enumerate(replicas):
            replica.wait_up(args.start_timeout)
            timed_run(task, variant, warm, [replica], args.per_replica, tmp / f"warm-{index}", replicas)
            print(f"replica {index}: port {replica.port}, up after {replica.started_s:.0f} s, model threads on cores "
                  f"{replica.cores}", flush=True)
        for rep in range(args.repeat):
            for count in walls:
                wall, cpu, failed = timed_run(task, variant, data, replicas[:count], args.per_replica,
                                              tmp / f"runs-{count}-{rep}", replicas)
                walls[count].append(wall)
                cpus[count].append(cpu)
                errors[count] += failed
                loads[count].append(os.getloadavg()[0])
                print(f"  repeat {rep}: {count} replica(s) {wall:.2f} s", flush=True)
    finally:
        stop_all()
    base = n_prompts / statistics.median(walls[1])
    print(f"\n{'replicas':>8} {'median s':>8} {'prompts/s':>9} {'ratio':>6} {'cores busy':>10} "
          f"{'api/engine/worker':>17} {'errors':>6} {'load1':>5}  runs s")
    for count in walls:
        wall = statistics.median(walls[count])
        rate = n_prompts / wall
        busy = {role: statistics.median(c[role] / w for c, w in zip(cpus[count], walls[count]))
                for role in ("api", "engine", "worker", "other")}
        roles = "/".join(f"{busy[role]:.2f}" for role in ("api", "engine", "worker"))
        print(f"{count:>8} {wall:>8.2f} {rate:>9.1f} {rate / base:>6.2f} {sum(busy.values()):>10.2f} {roles:>17} "
              f"{errors[count]:>6} {statistics.mean(loads[count]):>5.2f}  {[round(w, 2) for w in walls[count]]}")
    print(f"load after {os.getloadavg()}; replica logs in {tmp}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
