"""The openai/clip-vit-large-patch14 tokenizer and text config, made without the Hugging Face Hub.

A1111's first model load reads them from the Hub's cache. open_clip (installed with A1111) bundles
CLIP's BPE; built the way openai CLIP's simple_tokenizer builds its vocabulary, it gives the same
vocab.json and merges.txt as the Hub. Run with the Python that has open_clip and transformers:

    HF_HOME=... python clip_tokenizer.py [--check]

writes them into $HF_HOME/hub (laid out as a Hub download), then proves they load offline.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

CLIP_NAME = "openai/clip-vit-large-patch14"


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    # CLIP's byte-level alphabet: printable bytes map to themselves, the rest above 255.
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def clip_vocabulary(bpe_gz: Path) -> tuple[dict[str, int], list[str]]:
    """The encoder and merges, built the way openai CLIP's simple_tokenizer builds them."""
    lines = gzip.decompress(bpe_gz.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    alphabet = list(_bytes_to_unicode().values())
    vocab = alphabet + [v + "</w>" for v in alphabet]
    vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}, merges


def text_config() -> dict:
    # ViT-L/14's text tower, as SD1.5's conditioning uses it.
    return {
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
        "layer_norm_eps": 1e-5,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
        "torch_dtype": "float32",
    }


def write_tokenizer(hf_home: Path) -> None:
    import open_clip

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    encoder, merges = clip_vocabulary(bpe)
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    files = {
        "vocab.json": json.dumps(encoder, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "\n".join(merges) + "\n",
        "special_tokens_map.json": json.dumps(special),
        "tokenizer_config.json": json.dumps(
            {
                **special,
                "add_prefix_space": False,
                "do_lower_case": True,
                "errors": "replace",
                "model_max_length": 77,
                "tokenizer_class": "CLIPTokenizer",
            }
        ),
        "config.json": json.dumps(text_config(), indent=2),
    }
    revision = hashlib.sha1("".join(files.values()).encode()).hexdigest()
    repo = hf_home / "hub" / ("models--" + CLIP_NAME.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (snapshot / name).write_text(text, encoding="utf-8")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    print(f"weights: tokenizer {len(encoder)} tokens, {len(merges)} merges -> {snapshot}")


def check_tokenizer() -> None:
    from transformers import CLIPTokenizer

    ids = CLIPTokenizer.from_pretrained(CLIP_NAME)("a photo of a cat")["input_ids"]
    expected = [49406, 320, 1125, 539, 320, 2368, 49407]
    if ids != expected:
        sys.exit(f"weights: the offline CLIP tokenizer encodes wrongly: {ids} != {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description="CLIP ViT-L/14 tokenizer files, offline")
    parser.add_argument("--hf-home", type=Path, default=os.environ.get("HF_HOME"))
    args = parser.parse_args()
    if args.hf_home is None:
        sys.exit("clip_tokenizer: set HF_HOME or --hf-home")
    os.environ["HF_HOME"] = str(args.hf_home)
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    write_tokenizer(Path(args.hf_home))
    check_tokenizer()


if __name__ == "__main__":
    main()
