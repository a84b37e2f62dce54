"""Build the tiny GGUFs, load each under the matrix, write tests/data/llamacpp/conformance.json.

    python -m tests.conformance.llamacpp.record [--work DIR] [--out FILE] [--only NAME ...]

Runs with the conformance venv's Python (`make conformance` does it).  Loads run in a
worker subprocess so a llama.cpp abort (GGML_ASSERT) costs one load, not the run: the
driver records that load as "crashed" with ggml's message and restarts the worker on the
remaining jobs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import logparse
from .matrix import Load, loads_for
from .models import CASES, Case

ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.conformance.llamacpp.worker"
# The full commit of the llama.cpp each llama-cpp-python release vendors, read from the
# sdist's submodule pointer (`git submodule status` in llama_cpp_python-0.3.36.tar.gz).
# The built library only knows the short hash (ggml_commit()), which must agree.
VENDORED_LLAMA_CPP = {"0.3.36": "0c1e57098bba43ac29e6e3b677cdceebdd22334f"}


def build_models(cases: list[Case], folder: Path) -> dict[str, dict[str, Any]]:
    """Write one GGUF per case; return what each was given (arch, metadata, size)."""
    folder.mkdir(parents=True, exist_ok=True)
    built = {}
    for case in cases:
        path = folder / f"{case.name}.gguf"
        path.unlink(missing_ok=True)
        g = case.build(path)
        size = g.write()
        built[case.name] = {
            "arch": g.arch,
            "family": case.family,
            "probes": case.probes,
            "gguf_bytes": size,
            "metadata": g.meta,
            "gguf": str(path),
        }
    return built


def job_list(cases: list[Case], built: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    jobs = []
    for case in cases:
        for load in loads_for(case):
            jobs.append(
                {
                    "id": f"{case.name}/{load.tag()}",
                    "model": case.name,
                    "gguf": built[case.name]["gguf"],
                    "settings": load.settings(),
                }
            )
    return jobs


def run_worker(jobs: list[dict[str, Any]], logs: Path) -> dict[str, str]:
    """Run all jobs, restarting after crashes; returns {job id: "done" | "crashed"}."""
    logs.mkdir(parents=True, exist_ok=True)
    status: dict[str, str] = {}
    pending = list(jobs)
    while pending:
        plan = logs / "pending.json"
        plan.write_text(json.dumps(pending))
        proc = subprocess.run(
            [sys.executable, "-m", WORKER, str(plan), str(logs)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        done = {
            line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("DONE ")
        }
        for job in pending:
            if job["id"] in done:
                status[job["id"]] = "done"
        rest = [job for job in pending if job["id"] not in done]
        if proc.returncode != 0 and rest:
            # the first job without DONE is the one that took the process down
            status[rest[0]["id"]] = "crashed"
            print(f"  crashed: {rest[0]['id']} (exit {proc.returncode})", flush=True)
            rest = rest[1:]
        elif rest:
            raise RuntimeError(f"worker stopped early without a crash: {proc.stderr[-2000:]}")
        pending = rest
    return status


def log_name(job_id: str) -> str:
    return job_id.replace("/", "__") + ".log"


def collect(
    jobs: list[dict[str, Any]], built: dict[str, dict[str, Any]], logs: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    models = {}
    for name, info in built.items():
        text = (logs / f"{name}.model.log").read_text(errors="replace")
        models[name] = {k: v for k, v in info.items() if k != "gguf"}
        models[name]["lines"] = logparse.model_lines(text)
    loads = []
    for job in jobs:
        text = (logs / log_name(job["id"])).read_text(errors="replace")
        rec = logparse.record(text)
        loads.append({"id": job["id"], "model": job["model"], "settings": job["settings"], **rec})
    return models, loads


def about() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", WORKER, "--about"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    info = dict(json.loads(out.stdout))
    full = VENDORED_LLAMA_CPP.get(info["llama_cpp_python"], "")
    if full and info["ggml_commit"].split("-")[0] == full[: len(info["ggml_commit"].split("-")[0])]:
        info["llama_cpp_commit"] = full
    return info


def summary(loads: list[dict[str, Any]], models: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for load in loads:
        counts[load["outcome"]] = counts.get(load["outcome"], 0) + 1
    archs = sorted({m["arch"] for m in models.values()})
    return {"loads": len(loads), "models": len(models), "architectures": archs, "outcomes": counts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "conformance" / "llamacpp")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "tests" / "data" / "llamacpp" / "conformance.json"
    )
    ap.add_argument("--only", nargs="*", help="case names (default: all)")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    started = time.time()
    info = about()
    print(f"llama-cpp-python {info['llama_cpp_python']}, ggml {info['ggml_commit']}", flush=True)
    built = build_models(cases, args.work / "ggufs")
    jobs = job_list(cases, built)
    print(f"{len(cases)} models, {len(jobs)} loads", flush=True)
    run_worker(jobs, args.work / "logs")
    models, loads = collect(jobs, built, args.work / "logs")
    doc = {
        "about": {
            **info,
            "recorded": time.strftime("%Y-%m-%d"),
            "how": "make conformance (tests/conformance/llamacpp); CPU only, n_gpu_layers 0",
        },
        "summary": summary(loads, models),
        "defaults": Load().settings(),
        "models": models,
        "loads": loads,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(doc["summary"]), f"in {time.time() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
