"""Options: sampling without a seed, unsupported values, unknown flags, a GPU that is not there."""
import json
import os

from bad_case import Case, run_args


def option_case(id, input, extra, code, message, skip=None):
    return Case(id, input, lambda ws: run_args(ws.hf_model(), *extra), code, message, skip=skip)


def gpu_present():
    return "this machine has an NVIDIA GPU" if os.path.exists("/dev/nvidia0") else None


def unseeded_session(ws):
    script = {"schema": "lockstep.session/0", "name": "s",
              "steps": [{"type": "user", "text": "Hi"}, {"type": "generate", "max_new_tokens": 2, "temperature": 0.7}]}
    return ["session", "trace", "--model", ws.hf_model(), "--script", ws.write("s.json", json.dumps(script)),
            "--out", ws.path("out/trace.json")]


CASES = [
    option_case("opt-sampling-without-seed", "run --temperature 0.7 without --seed", ["--temperature", "0.7"], 2,
                r"sampling \(temperature > 0\) needs an explicit seed.*Pass --seed N"),
    Case("opt-session-sampling-without-seed", "a session script's generate step with temperature 0.7 and no seed",
         unseeded_session, 2, r"s\.json.*steps\[1\].*temperature > 0 needs a seed"),
    option_case("opt-top-p-out-of-range", "run --top-p 1.5 (sampling, seeded)",
                ["--temperature", "0.7", "--seed", "1", "--top-p", "1.5"], 2, r"top_p must be in \(0, 1\]"),
    option_case("opt-max-new-tokens-zero", "run --max-new-tokens 0", ["--max-new-tokens", "0"], 2,
                r"max_new_tokens must be at least 1"),
    option_case("opt-not-a-number", "run --max-new-tokens ten", ["--max-new-tokens", "ten"], 2,
                r"--max-new-tokens.*ten|ten.*--max-new-tokens"),
    option_case("opt-unknown-flag", "run --bogus", ["--bogus"], 2,
                r"The following arguments? (was|were) not expected: --bogus"),
    option_case("opt-dtype-fp8", "run --dtype fp8", ["--dtype", "fp8"], 2,
                r"--dtype must be fp32, bf16 or fp16, not 'fp8'"),
    option_case("opt-dtype-fp16-cpu", "run --dtype fp16 on the CPU", ["--dtype", "fp16"], 2,
                r"--dtype fp16 runs on CUDA only; use fp32 or bf16 on the CPU"),
    option_case("opt-device-tpu", "run --device tpu", ["--device", "tpu"], 2,
                r"--device must be cpu or cuda\[:N\], not 'tpu'"),
    option_case("opt-mode-foo", "run --mode foo", ["--mode", "foo"], 2,
                r"unknown mode 'foo' \(expected off, batch_invariant or portable\)"),
    option_case("opt-cuda-without-gpu", "run --device cuda on a machine without a GPU", ["--device", "cuda"], 3,
                r"--device cuda: no CUDA GPU on this machine", skip=gpu_present),
    Case("opt-runs-zero", "verify --runs 0",
         lambda ws: ["verify", "--model", ws.hf_model(), "--prompt", "Hi", "--runs", "0", "--out-dir", ws.path("out")],
         2, r"--runs must be at least 1"),
    Case("opt-missing-model", "--model names a file that does not exist",
         lambda ws: run_args(ws.path("missing.gguf")), 3,
         r"model file not found: .*missing\.gguf \(from --model; No such file or directory\)"),
    Case("opt-model-is-a-weights-file", "--model names model.safetensors instead of its folder",
         lambda ws: run_args(ws.hf_model() / "model.safetensors"), 2,
         r"model\.safetensors: give the model folder \(with config\.json and tokenizer\.json\), not one of its files"),
]
