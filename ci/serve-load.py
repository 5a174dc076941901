#!/usr/bin/env python3
"""Load on an OpenAI-compatible server (lockstep serve), then the bits check.

Sends --requests chat completions, --concurrency at a time, drawn (seeded) from a suite's prompts;
each prompt has its own max_tokens and every fourth one is sampled (temperature 0.8, its own seed),
so requests of many lengths and both decoding kinds share the engine's steps. Then sends every
distinct request once more, alone, and checks that each loaded answer is bit for bit its solo
answer (the `lockstep` record: output ids and every step's logits SHA-256). Prints latency
percentiles, tokens/s and the largest step batch; writes everything to --out.

  python3 ci/serve-load.py --url http://127.0.0.1:8000 --requests 2000 --concurrency 64 \\
      --suite suites/tiers.json --max-tokens 16 --out load.json

Standard library only (urllib), so it runs on the GPU image as it is. Exit 0: no error and every
answer equal to its solo bits; 1 otherwise; 2 bad arguments or a server that is not there.
"""
import argparse
import concurrent.futures
import json
import os
import random
import statistics
import sys
import time
import urllib.error
import urllib.request


def post(url, body, key, timeout):
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url + "/v1/chat/completions", data=data, headers=headers, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read())
            return {"status": r.status, "answer": answer, "seconds": time.perf_counter() - start}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "error": e.read().decode(errors="replace")[:500],
                "seconds": time.perf_counter() - start}
    except (urllib.error.URLError, OSError) as e:
        return {"status": 0, "error": str(e), "seconds": time.perf_counter() - start}


def bits(answer):
    record = answer["lockstep"]["choices"][0]["record"]
    return record["prompt_ids"], record["output_ids"], record["step_logits_sha256"]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    ap.add_argument("--api-key-env", help="environment variable holding the API key")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--suite", default=os.path.join(os.path.dirname(__file__), "..", "suites", "tiers.json"))
    ap.add_argument("--max-tokens", type=int, default=16, help="the largest max_tokens a prompt gets (each gets 1..this)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600, help="seconds per request")
    ap.add_argument("--out", help="write the results JSON here")
    a = ap.parse_args()
    if a.requests < 1 or a.concurrency < 1 or a.max_tokens < 1:
        ap.error("--requests, --concurrency and --max-tokens must be at least 1")
    key = os.environ.get(a.api_key_env, "") if a.api_key_env else ""
    if a.api_key_env and not key:
        ap.error(f"--api-key-env {a.api_key_env}: not set")
    try:
        with urllib.request.urlopen(a.url + "/health", timeout=10) as r:
            json.loads(r.read())
    except Exception as e:   # noqa: BLE001 - any failure means no server
        print(f"serve-load: no server at {a.url}: {e}", file=sys.stderr)
        return 2

    rng = random.Random(a.seed)
    with open(a.suite) as f:
        cases = [c for c in json.load(f)["cases"] if c.get("prompt")]
    kinds = []
    for i, c in enumerate(cases):
        body = {"messages": [{"role": "user", "content": c["prompt"]}], "max_tokens": rng.randint(1, a.max_tokens),
                "ignore_eos": True}
        if i % 4 == 3:
            body.update(temperature=0.8, seed=rng.randint(0, 2**31))
        kinds.append(body)
    plan = [rng.randrange(len(kinds)) for _ in range(a.requests)]

    print(f"serve-load: {a.requests} requests of {len(kinds)} kinds at concurrency {a.concurrency} to {a.url}",
          file=sys.stderr)
    start = time.perf_counter()
    results = [None] * len(plan)
    done = 0
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as pool:
        futures = {pool.submit(post, a.url, kinds[k], key, a.timeout): i for i, k in enumerate(plan)}
        for f in concurrent.futures.as_completed(futures):
            results[futures[f]] = f.result()
            done += 1
            if done % max(1, a.requests // 10) == 0:
                print(f"serve-load: {done}/{a.requests} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    wall = time.perf_counter() - start

    print(f"serve-load: the {len(kinds)} kinds again, one at a time (solo references)", file=sys.stderr)
    solo = [post(a.url, body, key, a.timeout) for body in kinds]
    errors = [r for r in results + solo if r["status"] != 200]
    mismatches = []
    largest = 0
    tokens = prompt_tokens = 0
    for i, (k, r) in enumerate(zip(plan, results)):
        if r["status"] != 200 or solo[k]["status"] != 200:
            continue
        tokens += r["answer"]["usage"]["completion_tokens"]
        prompt_tokens += r["answer"]["usage"]["prompt_tokens"]
        largest = max(largest, max(r["answer"]["lockstep"]["choices"][0]["step_batch"]))
        if bits(r["answer"]) != bits(solo[k]["answer"]):
            mismatches.append({"request": i, "kind": k})
    latencies = [r["seconds"] for r in results if r["status"] == 200]
    summary = {
        "url": a.url, "requests": a.requests, "concurrency": a.concurrency, "kinds": len(kinds),
        "max_tokens": a.max_tokens, "seed": a.seed, "wall_s": round(wall, 3), "errors": len(errors),
        "mismatches": len(mismatches), "prompt_tokens": prompt_tokens, "completion_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1),
        "requests_per_s": round(len(latencies) / wall, 2), "largest_step_batch": largest,
        "latency_s": {p: round(percentile(latencies, int(p[1:])), 3) if latencies else None
                      for p in ("p50", "p90", "p99")},
        "first_errors": [e.get("error") for e in errors[:5]], "first_mismatches": mismatches[:5],
    }
    print(json.dumps(summary, indent=1))
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(a.out + ".tmp", a.out)
    verdict = "PASS" if not errors and not mismatches else "FAIL"
    print(f"serve-load: {verdict}: {len(errors)} errors, {len(mismatches)} of {len(latencies)} answers differ from "
          f"their solo bits; {summary['tokens_per_s']} tokens/s, p50 {summary['latency_s']['p50']} s, "
          f"p99 {summary['latency_s']['p99']} s, largest step batch {largest}", file=sys.stderr)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
