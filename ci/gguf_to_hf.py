"""A GGUF model as a Hugging Face folder (config.json, model.safetensors, tokenizer), so that a
server that reads only such folders (transformers serve) runs the very weights lockstep runs.

    gguf_to_hf.py --gguf FILE --out DIR [--dtype float32|bfloat16]

transformers dequantizes the GGUF (the gguf package) into a LlamaForCausalLM; the weights are
copied into a plain model of the same config (a GGUF-loaded model refuses save_pretrained) and
saved with its tokenizer and chat template. lockstep reads the folder too: `lockstep serve --model
DIR` and `transformers serve DIR` then hold the same numbers. The folder is written next to DIR
and renamed into place, so a half-written one is never left at DIR; an existing DIR is an error.
"""
import argparse
import pathlib
import shutil
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = ap.parse_args()
    if not args.gguf.is_file():
        sys.exit(f"gguf_to_hf: {args.gguf}: no such file")
    if args.out.exists():
        sys.exit(f"gguf_to_hf: {args.out} exists; remove it first")
    import torch
    import transformers

    dtype = getattr(torch, args.dtype)
    src = dict(pretrained_model_name_or_path=args.gguf.parent, gguf_file=args.gguf.name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(**src)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(**src, dtype=dtype)
    config = loaded.config
    config.quantization_config = None
    del config.quantization_config
    config.architectures = [type(loaded).__name__]
    plain = type(loaded)(config).to(dtype)
    plain.load_state_dict(loaded.state_dict())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=args.out.name + ".", dir=args.out.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(args.out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"gguf_to_hf: {args.gguf.name} -> {args.out} ({args.dtype})")


if __name__ == "__main__":
    main()
