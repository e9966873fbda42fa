#!/usr/bin/env python3
"""A real byte-level BPE tokenizer for a tiny Hugging Face model folder.

    /usr/bin/python3 scripts/hf/tiny_tokenizer.py FOLDER [--style gpt2|llama3] [--corpus FILE]

The folders scripts/hf/make_tiny.py writes have a config.json and weights but
no tokenizer. This writes FOLDER/tokenizer.json and FOLDER/tokenizer_config.json
in Hugging Face's format, sized to the model:

  - model: type "BPE" over GPT-2's byte alphabet (bytes_to_unicode: all 256
    byte symbols, so any text encodes, no unk token), with merges LEARNED here
    (plain BPE training: most frequent adjacent pair first, ties broken by the
    pair's strings) from a small built-in English + arithmetic corpus
    (questions and rationales in the "Q: ...\\nA: ..." layout), or from
    --corpus FILE (UTF-8 text), until the vocabulary has vocab_size tokens in
    all, the special tokens included;
  - special tokens at the ids config.json gives (eos_token_id, a list meaning
    several end tokens; bos_token_id when set and different), in
    "added_tokens" with "special": true. --style gpt2 names them
    "<|endoftext|>" (eos) and "<|startoftext|>" (bos) and, as GPT-2's
    tokenizer.json does, also lists them in model.vocab; --style llama3 names
    them "<|begin_of_text|>" / "<|end_of_text|>" and keeps them out of
    model.vocab, as LLaMA-3 does. Extra end ids (a list) get "<|im_end|>" /
    "<|eot_id|>", then numbered names. When neither config.json nor
    generation_config.json gives an end token, "<|endoftext|>" takes the last
    id (vocab_size - 1);
  - every other id in [0, vocab_size) is a byte symbol or a learned token, in
    that order (ids ascending, skipping the special ids). Only if the corpus
    runs out of pairs to merge does the vocabulary stop below (a warning on
    stderr); no id is ever >= vocab_size;
  - pre-tokenizer: --style gpt2 (default) is GPT-2's ByteLevel
    (add_prefix_space false, use_regex true: numbers are one pre-token, " 123");
    --style llama3 is LLaMA-3's Sequence [Split on its regex (digits in groups
    of up to 3, never with a leading space), ByteLevel(use_regex false)];
    decoder ByteLevel, post_processor ByteLevel (trim_offsets false), as the
    originals. Training pre-tokenizes with the same regexes in Python's `re`
    (\\p{L} as [^\\W\\d_], \\p{N} as \\d: exact on ASCII, close elsewhere;
    a pair the real pre-tokenizer never forms only wastes a merge).

tokenizer_config.json: bos_token (or null), eos_token, model_max_length (the
config's n_positions / max_position_embeddings), tokenizer_class
PreTrainedTokenizerFast, clean_up_tokenization_spaces false, and
added_tokens_decoder, as transformers' save_pretrained writes it.

Standard library only. Deterministic: the same inputs give the same bytes.
"""
import argparse
import json
import os
import re
import sys
from collections import Counter

# ---- GPT-2's byte alphabet ------------------------------------------------------


def bytes_to_unicode():
    """GPT-2's map byte -> printable unicode character (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_ENCODER = bytes_to_unicode()
# GPT-2's vocab order for the 256 byte symbols: the printable bytes first, then the rest
BYTE_SYMBOLS = list(BYTE_ENCODER.values())

# ---- pre-tokenizers ----------------------------------------------------------------

# The regexes as they appear in the tokenizer.json files (Rust / Oniguruma syntax).
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

# The same in Python's re: L = a letter, N = a digit, O = neither (nor space).
_L = r"[^\W\d_]"
_N = r"\d"
PY_GPT2 = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?" + _L + r"+| ?" + _N + r"+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")
PY_LLAMA3 = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?" + _L + r"+|" + _N + r"{1,3}| ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def pre_tokenizer_json(style):
    if style == "gpt2":
        return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ],
    }


def pre_tokenize(text, style):
    """The pre-tokens of `text` as byte-symbol strings."""
    rx = PY_GPT2 if style == "gpt2" else PY_LLAMA3
    return ["".join(BYTE_ENCODER[b] for b in m.group(0).encode("utf-8")) for m in rx.finditer(text)]


# ---- the built-in corpus -------------------------------------------------------------

NAMES = ["Tom", "Anna", "Leo", "Emma", "Jack", "Mia", "Sam", "Lily", "Ben", "Sara", "Max", "Nora", "Omar", "Ivy", "Paul", "Rosa"]
PRONOUN = {n: ("She" if n in ("Anna", "Emma", "Mia", "Lily", "Sara", "Nora", "Ivy", "Rosa") else "He") for n in NAMES}
THINGS = ["apples", "books", "pencils", "cookies", "marbles", "stickers", "cards", "eggs", "shells", "coins", "toys", "cups", "flowers", "stamps", "oranges", "bottles"]
PLACES = ["store", "market", "school", "park", "library", "garden", "farm", "bakery"]

PROSE = """\
The quick brown fox jumps over the lazy dog. A small student learns to reason from a large teacher.
Each question has several rationales, and every rationale reaches the same answer.
We add the numbers first, then we subtract what was given away, and finally we check the result.
There are seven days in a week, twelve months in a year, and sixty minutes in an hour.
If you have a number of things and you get more of them, you add. If you give some away, you subtract.
When things are shared equally between friends, you divide. When groups of the same size repeat, you multiply.
Let's think step by step. First, find how many there were at the start. Then, find how many changed.
It's what we'll do: we've checked the sum, and they're sure that the answer is right. I'd say it's done.
"""


def builtin_corpus():
    """English + arithmetic questions and rationales, generated by fixed rules."""
    out = [PROSE]
    for i in range(480):
        name = NAMES[i % len(NAMES)]
        he = PRONOUN[name]
        his = "her" if he == "She" else "his"
        thing = THINGS[(i * 7 + i // len(NAMES)) % len(THINGS)]
        place = PLACES[(i * 5) % len(PLACES)]
        a = (i * 37) % 90 + 2
        b = (i * 53) % 40 + 1
        kind = i % 6
        if kind == 0:
            q = f"{name} has {a} {thing} and buys {b} more at the {place}. How many {thing} does {he.lower()} have now?"
            r = [f"{he} has {a} + {b} = {a + b} {thing}. The answer is {a + b}.",
                 f"{name} starts with {a} {thing}. After buying {b} more, {he.lower()} has {a} + {b} = {a + b}.\nTherefore, the answer is {a + b}."]
        elif kind == 1:
            c = min(b, a - 1)
            q = f"{name} had {a} {thing} and gave {c} to a friend. How many {thing} are left?"
            r = [f"{he} gave away {c}, so {a} - {c} = {a - c} are left. So the answer is {a - c}.",
                 f"First, {name} had {a}. Then {he.lower()} gave {c} away: {a} - {c} = {a - c}. The answer is {a - c}."]
        elif kind == 2:
            x, y = b % 9 + 2, a % 12 + 2
            q = f"There are {x} boxes with {y} {thing} in each box. How many {thing} are there in all?"
            r = [f"Each box has {y} {thing}, and there are {x} boxes, so {x} * {y} = {x * y}. The answer is {x * y}.",
                 f"{x} groups of {y} make {x} × {y} = {x * y} {thing}.\nTherefore, the answer is {x * y}."]
        elif kind == 3:
            k = b % 6 + 2
            n = k * (a % 15 + 2)
            q = f"{name} shares {n} {thing} equally among {k} friends. How many {thing} does each friend get?"
            r = [f"{n} {thing} shared by {k} friends is {n} / {k} = {n // k} each. So the answer is {n // k}.",
                 f"We divide: {n} ÷ {k} = {n // k}. Each friend gets {n // k} {thing}. The answer is {n // k}."]
        elif kind == 4:
            w, s, c = b % 8 + 2, a % 9 + 2, (i * 11) % 15 + 1
            t = w * s
            c = min(c, t)
            q = f"{name} saves ${s} each week for {w} weeks. Then {he.lower()} spends ${c} on a gift. How much money does {he.lower()} have left?"
            r = [f"Saved: {s} * {w} = {t}. Left: {t} - {c} = {t - c}. {he} has ${t - c} left. The answer is {t - c}.",
                 f"{name} saves {w} * {s} = {t} dollars, and after the gift {his} money is {t} - {c} = {t - c}. Thus, the answer is {t - c}."]
        else:
            big = 100 + (i * 97) % 900
            add = 10 + (i * 31) % 990
            q = f"A {place} sold {big} {thing} in the morning and {add} in the afternoon. How many {thing} did it sell that day?"
            r = [f"In the morning {big}, in the afternoon {add}, so {big} + {add} = {big + add}. The answer is {big + add}.",
                 f"Let's add the two numbers: {big} + {add} = {big + add}.\nTherefore, the answer is {big + add}."]
        for text in r:
            out.append(f"Q: {q}\nA: {text}\n")
    return "\n".join(out)


# ---- BPE training ---------------------------------------------------------------------


def train_bpe(text, style, n_tokens):
    """Learns merges until the vocabulary (the 256 byte symbols plus the merge
    results) has n_tokens tokens, or no pair is left. Returns (tokens, merges)."""
    words = Counter(pre_tokenize(text, style))
    # each distinct pre-token as a list of symbols, with its count (sorted: deterministic)
    seqs = [(list(w), c) for w, c in sorted(words.items())]
    tokens = list(BYTE_SYMBOLS)
    known = set(tokens)
    merges = []
    while len(tokens) < n_tokens:
        pairs = Counter()
        for syms, c in seqs:
            for p in zip(syms, syms[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        a, b = best
        merged = a + b
        merges.append(f"{a} {b}")
        if merged not in known:
            known.add(merged)
            tokens.append(merged)
        for syms, _ in seqs:
            i = 0
            while i < len(syms) - 1:
                if syms[i] == a and syms[i + 1] == b:
                    syms[i : i + 2] = [merged]
                i += 1
    return tokens, merges


# ---- the folder ---------------------------------------------------------------------------


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def as_ids(v, what):
    if v is None:
        return []
    vs = v if isinstance(v, list) else [v]
    for x in vs:
        if not isinstance(x, int) or isinstance(x, bool) or x < 0:
            sys.exit(f"tiny_tokenizer: {what} must be a non-negative integer or a list of them, got {v!r}")
    return vs


def special_tokens(cfg, gen, style, vocab_size):
    """[(id, content)] sorted by id, and the names of eos and bos."""
    eos = as_ids(cfg.get("eos_token_id"), "eos_token_id") or as_ids(gen.get("eos_token_id"), "generation_config eos_token_id")
    bos = as_ids(cfg.get("bos_token_id"), "bos_token_id") or as_ids(gen.get("bos_token_id"), "generation_config bos_token_id")
    if not eos:
        print(f"tiny_tokenizer: no eos_token_id in config.json or generation_config.json; the end token takes id {vocab_size - 1}", file=sys.stderr)
        eos = [vocab_size - 1]
    if style == "gpt2":
        eos_name, bos_name, extra = "<|endoftext|>", "<|startoftext|>", ["<|im_end|>"]
        numbered = "<|extra_{}|>"
    else:
        eos_name, bos_name, extra = "<|end_of_text|>", "<|begin_of_text|>", ["<|eot_id|>"]
        numbered = "<|reserved_special_token_{}|>"
    names = {}
    names[eos[0]] = eos_name
    for k, i in enumerate(x for x in eos[1:] if x not in names):
        names[i] = extra[k] if k < len(extra) else numbered.format(k - len(extra))
    bos_id = bos[0] if bos else None
    if bos_id is not None and bos_id not in names:
        names[bos_id] = bos_name
    for i in names:
        if i >= vocab_size:
            sys.exit(f"tiny_tokenizer: special token id {i} is outside the vocabulary of {vocab_size}")
    return sorted(names.items()), names[eos[0]], (names[bos_id] if bos_id is not None else None)


def max_length(cfg):
    for k in ("n_positions", "max_position_embeddings", "n_ctx", "max_seq_len"):
        if isinstance(cfg.get(k), int):
            return cfg[k]
    return 1000000000000000019884624838656  # transformers' VERY_LARGE_INTEGER


def build(folder, style, corpus_text):
    cfg = read_json(os.path.join(folder, "config.json"))
    gen_path = os.path.join(folder, "generation_config.json")
    gen = read_json(gen_path) if os.path.exists(gen_path) else {}
    vocab_size = cfg.get("vocab_size")
    if not isinstance(vocab_size, int) or vocab_size <= 0:
        sys.exit(f"tiny_tokenizer: config.json has no usable vocab_size ({vocab_size!r})")
    specials, eos_name, bos_name = special_tokens(cfg, gen, style, vocab_size)
    n_regular = vocab_size - len(specials)
    if n_regular < 256:
        sys.exit(f"tiny_tokenizer: vocab_size {vocab_size} leaves {n_regular} ids beside {len(specials)} special token(s); a byte-level BPE needs 256")

    tokens, merges = train_bpe(corpus_text, style, n_regular)
    if len(tokens) < n_regular:
        print(f"tiny_tokenizer: the corpus gave only {len(tokens) - 256} merged tokens; the vocabulary stops at {len(tokens)} of {n_regular} regular ids", file=sys.stderr)

    special_ids = {i for i, _ in specials}
    free = (i for i in range(vocab_size) if i not in special_ids)
    vocab = {tok: next(free) for tok in tokens}
    if style == "gpt2":  # GPT-2 lists <|endoftext|> in vocab.json too
        vocab.update({content: i for i, content in specials})
    vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    assert all(i < vocab_size for i in vocab.values()) and len(set(vocab.values())) == len(vocab)

    byte_level = lambda add_prefix_space, trim_offsets, use_regex=True: {  # noqa: E731
        "type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": use_regex}
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for i, c in specials]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer_json(style),
        "post_processor": byte_level(True, False),
        "decoder": byte_level(True, True),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None if style == "llama3" else "",
            "end_of_word_suffix": None if style == "llama3" else "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }
    tokenizer_config = {
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
        "bos_token": bos_name,
        "clean_up_tokenization_spaces": False,
        "eos_token": eos_name,
        "model_max_length": max_length(cfg),
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(tokenizer, indent=2, ensure_ascii=False) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(tokenizer_config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return {"vocab_size": vocab_size, "tokens": len(vocab) + (0 if style == "gpt2" else len(specials)), "merges": len(merges), "specials": specials}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a byte-level BPE tokenizer.json + tokenizer_config.json into a tiny Hugging Face model folder.")
    ap.add_argument("folder", help="a model folder with config.json")
    ap.add_argument("--style", choices=["gpt2", "llama3"], default="gpt2", help="pre-tokenizer and special token names (default gpt2)")
    ap.add_argument("--corpus", help="UTF-8 text to learn the merges from (default: a built-in English + arithmetic corpus)")
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.folder, "config.json")):
        sys.exit(f"tiny_tokenizer: no config.json in {args.folder}")
    if args.corpus:
        with open(args.corpus, encoding="utf-8") as f:
            text = f.read()
    else:
        text = builtin_corpus()
    info = build(args.folder, args.style, text)
    names = ", ".join(f"{c} = {i}" for i, c in info["specials"])
    print(f"{args.folder}: tokenizer.json ({args.style}), {info['tokens']} of {info['vocab_size']} ids, {info['merges']} merges; {names}")


if __name__ == "__main__":
    main()
