#!/usr/bin/env python3
"""Write a small, well-formed stand-in for the Qwen2-VL-7B-Instruct weight directory.

Usage: generate_weights.py OUT_DIR [--shards 5] [--total-mb 20]

OUT_DIR receives (like a download from a model hub):
  config.json                     real Qwen2-VL-7B-Instruct architecture fields
  generation_config.json, preprocessor_config.json, chat_template.json
  tokenizer.json, tokenizer_config.json, vocab.json, merges.txt   (small byte-level BPE)
  model.safetensors.index.json    metadata.total_size + weight_map (real tensor names)
  model-0000N-of-0000M.safetensors  valid safetensors shards, BF16, total about --total-mb MB

The tensor names are the real checkpoint's; their shapes are shrunk so the whole set fits the
requested size. Consumers that need the real footprint (the MindIE simulator) compute it from
config.json's architecture. Output is deterministic; a complete directory with the same
parameters is left untouched. Files are 0644 and directories 0755. Standard library only.
"""
import argparse
import hashlib
import json
import os
import random
import struct
import sys

MODEL_CONFIG = {
    "architectures": ["Qwen2VLForConditionalGeneration"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_token_id": 151654,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "model_type": "qwen2_vl",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.41.2",
    "use_cache": True,
    "use_sliding_window": False,
    "vision_config": {
        "depth": 32,
        "embed_dim": 1280,
        "mlp_ratio": 4,
        "num_heads": 16,
        "in_chans": 3,
        "hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vocab_size": 152064,
}

GENERATION_CONFIG = {
    "bos_token_id": 151643,
    "pad_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "repetition_penalty": 1.05,
    "temperature": 0.1,
    "top_k": 1,
    "top_p": 0.001,
    "transformers_version": "4.41.2",
}

PREPROCESSOR_CONFIG = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2VLProcessor",
}

# A compact ChatML template for image/video/text parts (written for this sandbox).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SPECIAL_TOKENS = [
    (151643, "<|endoftext|>"), (151644, "<|im_start|>"), (151645, "<|im_end|>"),
    (151646, "<|object_ref_start|>"), (151647, "<|object_ref_end|>"), (151648, "<|box_start|>"),
    (151649, "<|box_end|>"), (151650, "<|quad_start|>"), (151651, "<|quad_end|>"),
    (151652, "<|vision_start|>"), (151653, "<|vision_end|>"), (151654, "<|vision_pad|>"),
    (151655, "<|image_pad|>"), (151656, "<|video_pad|>"),
]

MERGE_WORDS = ["the", "image", "picture", "explain", "details", "in", "and", "of", "is", "a", "to",
               "describe", "this", "what", "colour", "light", "scene"]


def byte_alphabet():
    """GPT-2 style reversible byte -> printable unicode mapping (own implementation)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def tokenizer_files():
    alphabet = byte_alphabet()
    vocab = {alphabet[b]: i for i, b in enumerate(range(256))}
    merges = []
    space = alphabet[ord(" ")]
    for word in MERGE_WORDS:
        for piece in (word, space + word):
            current = piece[0]
            for ch in piece[1:]:
                merged = current + ch
                if merged not in vocab:
                    merges.append("%s %s" % (current, ch))
                    vocab[merged] = len(vocab)
                current = merged
    added = [{"id": tid, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for tid, text in SPECIAL_TOKENS]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }
    tok_config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(tid): {"content": text, "lstrip": False, "normalized": False,
                                            "rstrip": False, "single_word": False, "special": True}
                                 for tid, text in SPECIAL_TOKENS},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                                      "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
                                      "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                                      "<|image_pad|>", "<|video_pad|>"],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "padding_side": "left",
        "processor_class": "Qwen2VLProcessor",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    merges_txt = "#version: 0.2\n" + "\n".join(merges) + "\n"
    return tokenizer, tok_config, vocab, merges_txt


def tensor_names(cfg):
    names = ["model.embed_tokens.weight"]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        names += [p + "input_layernorm.weight", p + "mlp.down_proj.weight", p + "mlp.gate_proj.weight",
                  p + "mlp.up_proj.weight", p + "post_attention_layernorm.weight",
                  p + "self_attn.k_proj.bias", p + "self_attn.k_proj.weight", p + "self_attn.o_proj.weight",
                  p + "self_attn.q_proj.bias", p + "self_attn.q_proj.weight", p + "self_attn.v_proj.bias",
                  p + "self_attn.v_proj.weight"]
    names += ["model.norm.weight", "lm_head.weight", "visual.patch_embed.proj.weight"]
    for i in range(cfg["vision_config"]["depth"]):
        p = "visual.blocks.%d." % i
        names += [p + "norm1.weight", p + "norm1.bias", p + "norm2.weight", p + "norm2.bias",
                  p + "attn.qkv.weight", p + "attn.qkv.bias", p + "attn.proj.weight", p + "attn.proj.bias",
                  p + "mlp.fc1.weight", p + "mlp.fc1.bias", p + "mlp.fc2.weight", p + "mlp.fc2.bias"]
    names += ["visual.merger.ln_q.weight", "visual.merger.ln_q.bias", "visual.merger.mlp.0.weight",
              "visual.merger.mlp.0.bias", "visual.merger.mlp.2.weight", "visual.merger.mlp.2.bias"]
    return names


def plan_shards(names, total_bytes, shards):
    """Give every tensor a BF16 1-D shape; split tensors over shards with about equal bytes."""
    elements = max(total_bytes // 2, len(names))
    base, extra = divmod(elements, len(names))
    sizes = [(base + (1 if i < extra else 0)) * 2 for i in range(len(names))]
    grand = sum(sizes)
    groups = [[] for _ in range(shards)]
    running = 0
    for name, size in zip(names, sizes):
        index = min(int(running * shards // grand), shards - 1)
        groups[index].append((name, size))
        running += size
    return [g for g in groups if g], grand


def shard_bytes(group, seed):
    header, offset = {}, 0
    for name, size in group:
        header[name] = {"dtype": "BF16", "shape": [size // 2], "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    rng = random.Random(seed)
    return struct.pack("<Q", len(raw)) + raw + rng.randbytes(offset)


def dumps(obj):
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _same(path, data):
    try:
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def _write(path, data):
    tmp = path + ".partial"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def generate(out_dir, shards=5, total_mb=20.0):
    """Create or complete the weight directory. Returns the number of files written."""
    if shards < 1:
        raise ValueError("--shards must be >= 1")
    total_bytes = int(total_mb * 1024 * 1024)
    names = tensor_names(MODEL_CONFIG)
    groups, grand = plan_shards(names, total_bytes, shards)
    count = len(groups)
    shard_names = ["model-%05d-of-%05d.safetensors" % (i + 1, count) for i in range(count)]
    weight_map = {}
    for fname, group in zip(shard_names, groups):
        for name, _size in group:
            weight_map[name] = fname
    index = {"metadata": {"total_size": grand}, "weight_map": dict(sorted(weight_map.items()))}
    tokenizer, tok_config, vocab, merges_txt = tokenizer_files()
    small = {
        "config.json": dumps(MODEL_CONFIG),
        "generation_config.json": dumps(GENERATION_CONFIG),
        "preprocessor_config.json": dumps(PREPROCESSOR_CONFIG),
        "chat_template.json": dumps({"chat_template": CHAT_TEMPLATE}),
        "tokenizer.json": dumps(tokenizer),
        "tokenizer_config.json": dumps(tok_config),
        "vocab.json": dumps(vocab),
        "merges.txt": merges_txt.encode("utf-8"),
        "model.safetensors.index.json": dumps(index),
    }
    os.makedirs(out_dir, exist_ok=True)
    os.chmod(out_dir, 0o755)
    written = 0
    for fname, group in zip(shard_names, groups):
        path = os.path.join(out_dir, fname)
        seed = hashlib.sha256(("qwen2-vl-sandbox:%s:%d" % (fname, grand)).encode()).hexdigest()
        data = shard_bytes(group, seed)
        if os.path.isfile(path) and os.path.getsize(path) == len(data) and _same(path, data):
            continue
        _write(path, data)
        written += 1
    for fname, data in small.items():
        path = os.path.join(out_dir, fname)
        if not _same(path, data):
            _write(path, data)
            written += 1
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a small Qwen2-VL-7B-Instruct stand-in directory.")
    parser.add_argument("out_dir")
    parser.add_argument("--shards", type=int, default=5)
    parser.add_argument("--total-mb", type=float, default=20.0)
    args = parser.parse_args(argv)
    written = generate(args.out_dir, args.shards, args.total_mb)
    if written:
        print("wrote %d file(s) to %s" % (written, args.out_dir))
    else:
        print("%s is already complete, nothing to do" % args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
