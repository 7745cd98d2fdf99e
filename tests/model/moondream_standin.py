"""Tiny local stand-ins for moondream2, written as model folders with remote code.

Real moondream2 weights cannot be downloaded here, so :func:`write_standin` writes a folder that
``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)`` loads offline: a
``config.json`` whose ``auto_map`` points at ``configuration_standin.py`` / ``modeling_standin.py``
in the same folder, and real (tiny) weights saved by ``save_pretrained``. The model offers the API of
one moondream2 generation exactly as ``shared/docs/models.md`` records it:

* ``"2025"``: ``encode_image(image)``, ``query(image_or_encoded, question, settings=None) -> {"answer": ...}``
  (``settings`` read with ``.get``: ``max_tokens`` default 512, ``temperature`` default 0.5, ``top_p``
  0.3; temperature 0 is greedy), ``caption(image, length="normal", settings=None) -> {"caption": ...}``,
  and a ``tokenizers.Tokenizer`` on ``model.model.tokenizer`` as in the 2025 code.
* ``"2024"``: ``encode_image(image)`` and ``answer_question(image_embeds, question, tokenizer,
  chat_history="", result_queue=None, **kwargs)`` which fixes ``max_new_tokens`` at 512 inside, so
  passing it raises ``TypeError`` like 2024-03-06 ... 2024-07-23; with ``takes_max_new_tokens=True``
  the signature is 2024-08-26's (``max_new_tokens=256`` before ``**kwargs``). A real small tokenizer
  (``tokenizers`` WordLevel in ``PreTrainedTokenizerFast``) is saved in the same folder.

The answer is deterministic and proves what the model received: ``qlen-N`` (question length),
``qsha-XXXXXXXXXX`` (sha256 of the question), ``bucket-B`` (mean pixel value // 32), ``size-WxH``
(the image size), then filler words, cut to the token limit (counted in words). Sampling (temperature > 0 or
``do_sample``) appends one word drawn with ``torch.randint`` (the global generator), so seeding shows.
Every call is appended to ``model.calls`` (question, settings or kwargs, image size, dtype).
An image smaller than 4 px on a side makes ``encode_image`` raise ``ValueError``.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Literal

FILLER = "the lesion looks like eczema apply a mild steroid cream twice daily and see a doctor if it spreads".split()
POISON_SIDE = 4  # images with a side below this make encode_image raise


def expected_words(question: str, image_size: tuple[int, int], bucket: int) -> list[str]:
    """The stand-in's answer words (before the token limit) for a question and an image."""
    digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:10]
    width, height = image_size
    return [f"qlen-{len(question)}", f"qsha-{digest}", f"bucket-{bucket}", f"size-{width}x{height}", *FILLER]


def pixel_bucket(image) -> int:
    """Mean pixel value over all channels, // 32 (0..7), as the stand-in computes it."""
    from PIL import ImageStat

    means = ImageStat.Stat(image.convert("RGB")).mean
    return int(sum(means) / 3 // 32)


_CONFIGURATION = """
from transformers import PretrainedConfig


class {config_class}(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)
"""

_COMMON = """
import hashlib

import torch
from PIL import ImageStat
from torch import nn
from transformers import PreTrainedModel

from .configuration_standin import {config_class}

FILLER = {filler!r}
POISON_SIDE = {poison}


def _answer_words(question, image_size, bucket):
    digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:10]
    width, height = image_size
    return ["qlen-%d" % len(question), "qsha-" + digest, "bucket-%d" % bucket, "size-%dx%d" % (width, height), *FILLER]


def _image_stats(image):
    if min(image.size) < POISON_SIDE:
        raise ValueError("stand-in: image too small to encode")
    means = ImageStat.Stat(image.convert("RGB")).mean
    return torch.tensor([m / 255.0 for m in means]), int(sum(means) / 3 // 32)


class _Base(PreTrainedModel):
    config_class = {config_class}
    base_model_prefix = "standin"

    def __init__(self, config):
        super().__init__(config)
        self.vision = nn.Linear(3, config.hidden_size)
        self.text = nn.Linear(config.hidden_size, config.hidden_size)
        self.calls = []
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            with torch.no_grad():
                n = module.weight.numel()
                module.weight.copy_(torch.linspace(-0.5, 0.5, n).reshape(module.weight.shape))
                if module.bias is not None:
                    module.bias.zero_()

    def _embed(self, stats):
        return self.text(self.vision(stats.to(self.device, self.dtype)))

    def _sampled_word(self):
        return "sampled-" + FILLER[int(torch.randint(len(FILLER), (1,)).item())]
"""

_MODELING_2025 = '''

class EncodedImage:
    def __init__(self, embeds, bucket, size):
        self.embeds = embeds
        self.bucket = bucket
        self.size = size


class _Inner:
    """Stands for the 2025 code's MoondreamModel: it holds the tokenizer."""

    def __init__(self):
        from tokenizers import Tokenizer
        from tokenizers.models import WordLevel
        from tokenizers.pre_tokenizers import Whitespace

        words = ["[UNK]", "-", "x", "qlen", "qsha", "bucket", "size", "sampled", *FILLER]
        vocab = {{w: i for i, w in enumerate(dict.fromkeys(words))}}
        self.tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
        self.tokenizer.pre_tokenizer = Whitespace()


class {model_class}(_Base):
    def __init__(self, config):
        super().__init__(config)
        self.model = _Inner()

    def encode_image(self, image):
        if isinstance(image, EncodedImage):
            return image
        stats, bucket = _image_stats(image)
        with torch.inference_mode():
            embeds = self._embed(stats)
        return EncodedImage(embeds, bucket, image.size)

    def query(self, image=None, question=None, settings=None):
        if question is None:
            raise ValueError("question must be provided.")
        encoded = self.encode_image(image)
        max_tokens = settings.get("max_tokens", 512) if settings else 512
        temperature = settings.get("temperature", 0.5) if settings else 0.5
        self.calls.append(
            {{
                "question": question,
                "settings": None if settings is None else dict(settings),
                "image_size": encoded.size,
                "bucket": encoded.bucket,
                "encoded_before": isinstance(image, EncodedImage),
                "dtype": str(self.dtype),
            }}
        )
        words = _answer_words(question, encoded.size, encoded.bucket)
        if temperature > 0:
            words.append(self._sampled_word())
        return {{"answer": " " + " ".join(words[:max_tokens]) + "\\n"}}

    def caption(self, image, length="normal", settings=None):
        encoded = self.encode_image(image)
        return {{"caption": "an image of size %dx%d" % encoded.size}}
'''

_MODELING_2024 = """

class {model_class}(_Base):
    def encode_image(self, image):
        stats, bucket = _image_stats(image)
        with torch.inference_mode():
            embeds = self._embed(stats).reshape(1, 1, -1)
        meta = torch.zeros_like(embeds)
        meta[0, 0, 0], meta[0, 0, 1], meta[0, 0, 2] = bucket, image.size[0], image.size[1]
        return torch.cat([embeds, meta], dim=1)  # (1, 2, hidden): features, then bucket/width/height

    def answer_question(
        self, image_embeds, question, tokenizer, chat_history="", result_queue=None, {mnt_param}**kwargs
    ):
        {mnt_body}
        prompt = f"<image>\\n\\n{{chat_history}}Question: {{question}}\\n\\nAnswer:"
        prompt_ids = tokenizer(prompt).input_ids
        bucket, width, height = (int(v) for v in image_embeds[0, 1, :3].tolist())
        self.calls.append(
            {{
                "question": question,
                "kwargs": dict(kwargs),
                "max_new_tokens": max_new_tokens,
                "chat_history": chat_history,
                "prompt_tokens": len(prompt_ids),
                "image_size": (width, height),
                "bucket": bucket,
                "dtype": str(self.dtype),
            }}
        )
        words = _answer_words(question, (width, height), bucket)
        if kwargs.get("do_sample"):
            words.append(self._sampled_word())
        answer = " " + " ".join(words[:max_new_tokens]) + " "
        if result_queue is not None:
            result_queue.put(answer.strip())
        return answer
"""

# 2024-03-06 ... 2024-07-23: generate(..., max_new_tokens=512, **kwargs) inside, so passing it again fails.
_FIXED_512 = (
    'if "max_new_tokens" in kwargs:\n'
    "            raise TypeError(\"generate() got multiple values for keyword argument 'max_new_tokens'\")\n"
    "        max_new_tokens = 512"
)


def _tokenizer_sentences() -> list[str]:
    return [
        " ".join(FILLER),
        "Question: What dermatological disease is on the image and how can it be treated? Answer:",
        "This is additional information about the dermatology issue on the image:",
        "Patient wants to find out what dermatological disease he suffers from.",
        "Considering patient additional description: Answer two questions: 1. 2. How can it be treated?",
        "qlen qsha bucket size sampled - x <image>",
    ]


def _write_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.trainers import WordLevelTrainer
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    trainer = WordLevelTrainer(special_tokens=["[UNK]", "<|endoftext|>"], min_frequency=1)
    tokenizer.train_from_iterator(_tokenizer_sentences(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    fast.save_pretrained(folder)


def write_standin(folder: Path, api: Literal["2025", "2024"], *, takes_max_new_tokens: bool = False) -> Path:
    """Write a loadable stand-in for one moondream2 API generation into ``folder`` and return it.

    ``takes_max_new_tokens`` (2024 only) gives ``answer_question`` 2024-08-26's signature. Give each
    variant its own folder name: remote code is cached per folder name.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    if api not in ("2025", "2024"):
        raise ValueError(f"api must be '2025' or '2024', got {api!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = api + ("_mnt" if takes_max_new_tokens else "")
    config_class = f"MoondreamStandin{tag}Config"
    model_class = f"MoondreamStandin{tag}"
    names = {"config_class": config_class, "model_class": model_class}
    (folder / "configuration_standin.py").write_text(
        _CONFIGURATION.format(model_type=f"moondream_standin_{tag.lower()}", **names).lstrip(), encoding="utf-8"
    )
    common = _COMMON.format(filler=FILLER, poison=POISON_SIDE, **names)
    if api == "2025":
        modeling = common + _MODELING_2025.format(**names)
    else:
        mnt_param = "max_new_tokens=256, " if takes_max_new_tokens else ""
        mnt_body = "pass" if takes_max_new_tokens else _FIXED_512
        modeling = common + _MODELING_2024.format(mnt_param=mnt_param, mnt_body=mnt_body, **names)
    (folder / "modeling_standin.py").write_text(textwrap.dedent(modeling).lstrip(), encoding="utf-8")
    config = {
        "model_type": f"moondream_standin_{tag.lower()}",
        "architectures": [model_class],
        "auto_map": {
            "AutoConfig": f"configuration_standin.{config_class}",
            "AutoModelForCausalLM": f"modeling_standin.{model_class}",
        },
        "hidden_size": 8,
    }
    import json

    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    # Build the model through the same remote-code path from_pretrained uses, then save real weights.
    loaded_config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_config(loaded_config, trust_remote_code=True)
    model.save_pretrained(folder)
    if api == "2024":
        _write_tokenizer(folder)
    return folder


# -- a trainable stand-in: moondream2 2025's own architecture, tiny and randomly initialised ----------
#
# The 2025 release is a folder of remote code: ``hf_moondream.py`` (``HfConfig``, ``HfMoondream`` whose
# ``model`` is a ``MoondreamModel``), ``moondream.py``, ``text.py``, ``vision.py``. This stand-in keeps
# that layout and those names (read from github.com/vikhyat/moondream, moondream/torch, June 2025):
# ``model.vision`` (patch_emb, pos_emb, blocks.N.{ln1,attn.{qkv,proj},ln2,mlp.{fc1,fc2}}, post_ln,
# proj_mlp.{fc1,fc2}), ``model.text`` (wte, blocks.N.{ln,attn.{qkv,proj},mlp.{fc1,fc2}}, post_ln,
# lm_head), ``model.region``; ``text.py``'s ``text_encoder``, ``_produce_hidden`` (bidirectional over
# BOS + image, causal after, rotary positions, parallel attention + MLP), ``_lm_head`` and ``lm_head``;
# ``MoondreamModel._run_vision_encoder(image) -> (image tokens, dim)``; ``config.tokenizer`` with
# ``bos_id``/``eos_id`` 0, ``answer_id`` 3 and the ``query`` template; ``query`` prefills
# ``[BOS] + image + prefix + question + suffix + suffix`` and decodes greedily (temperature 0) or by
# sampling until ``eos_id``, never emitting ``answer_id``. Simplified: one global crop of 28 px (16
# image tokens instead of 729), no KV cache (every step recomputes), a word-level tokenizer.

_MD_TEXT = '''
import torch
import torch.nn as nn
from torch.nn import functional as F


def text_encoder(input_ids, w):
    return F.embedding(input_ids, w.wte)


def _rotate(x, position_ids):
    # Rotary position embedding over the first half of each head (moondream rotates part of the head).
    half = x.shape[-1] // 2
    freqs = 1.0 / (10000 ** (torch.arange(0, half, 2, device=x.device).float() / half))
    angles = position_ids.to(x.device).float()[:, None] * freqs[None, :]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    rot, rest = x[..., :half], x[..., half:]
    a, b = rot[..., 0::2], rot[..., 1::2]
    rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
    return torch.cat([rotated, rest], dim=-1)


def _attn(x, w, attn_mask, n_heads, n_kv_heads):
    bsz, q_len, d_model = x.shape
    head_dim = d_model // n_heads
    qkv_out = w.qkv(x)
    q_dim, kv_dim = n_heads * head_dim, n_kv_heads * head_dim
    q, k, v = qkv_out.split([q_dim, kv_dim, kv_dim], dim=-1)
    q = q.view(bsz, q_len, n_heads, head_dim).transpose(1, 2)
    k = k.view(bsz, q_len, n_kv_heads, head_dim).transpose(1, 2)
    v = v.view(bsz, q_len, n_kv_heads, head_dim).transpose(1, 2)
    position_ids = torch.arange(0, q_len, dtype=torch.long)
    q, k = _rotate(q, position_ids), _rotate(k, position_ids)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask.to(x.device))
    return w.proj(out.transpose(1, 2).reshape(bsz, q_len, d_model))


def mlp(x, w):
    return w.fc2(F.gelu(w.fc1(x), approximate="tanh"))


def _produce_hidden(inputs_embeds, w, config):
    hidden_BTC = inputs_embeds
    bsz, q_len, d_model = inputs_embeds.shape
    attn_mask = torch.zeros(q_len, q_len)
    attn_mask[: config.prefix_attn, : config.prefix_attn] = 1
    for i in range(config.prefix_attn, q_len):
        attn_mask[i, : i + 1] = 1
    attn_mask = attn_mask.to(dtype=torch.bool)
    for block in w.blocks:
        l_in = F.layer_norm(hidden_BTC, (d_model,), block.ln.weight, block.ln.bias)
        hidden_BTC = hidden_BTC + _attn(l_in, block.attn, attn_mask, config.n_heads, config.n_kv_heads) + mlp(
            l_in, block.mlp
        )
    return hidden_BTC


def _lm_head(hidden_BTC, w):
    return w.lm_head(w.post_ln(hidden_BTC))


def lm_head(hidden_BTC, w):
    return w.lm_head(w.post_ln(hidden_BTC[:, -1, :]))


def build_text_model(config, dtype):
    qkv_dim = int(config.dim * (1 + 2 * config.n_kv_heads / config.n_heads))
    block = lambda: nn.ModuleDict(  # noqa: E731
        {
            "ln": nn.LayerNorm(config.dim, dtype=dtype),
            "attn": nn.ModuleDict(
                {
                    "qkv": nn.Linear(config.dim, qkv_dim, dtype=dtype),
                    "proj": nn.Linear(config.dim, config.dim, dtype=dtype),
                }
            ),
            "mlp": nn.ModuleDict(
                {
                    "fc1": nn.Linear(config.dim, config.ff_dim, dtype=dtype),
                    "fc2": nn.Linear(config.ff_dim, config.dim, dtype=dtype),
                }
            ),
        }
    )
    text = nn.ModuleDict(
        {
            "blocks": nn.ModuleList([block() for _ in range(config.n_layers)]),
            "post_ln": nn.LayerNorm(config.dim, dtype=dtype),
            "lm_head": nn.Linear(config.dim, config.vocab_size, dtype=dtype),
        }
    )
    text.wte = nn.Parameter(torch.empty(config.vocab_size, config.dim, dtype=dtype))
    return text
'''

_MD_VISION = '''
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

from .text import mlp


def prepare_crops(image, config, device, dtype):
    # moondream tiles big images into overlapping 378 px crops; one global crop is enough here.
    side = config.crop_size
    pixels = np.asarray(image.convert("RGB").resize((side, side)), dtype=np.float32)
    crops = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    return crops.to(device=device, dtype=dtype).div(255.0).sub(0.5).div(0.5)


def create_patches(x, patch_size):
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // patch_size, patch_size, W // patch_size, patch_size).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // patch_size) * (W // patch_size), C * patch_size * patch_size)


def vision_encoder(input_BCHW, w, config):
    x = w.patch_emb(create_patches(input_BCHW, config.enc_patch_size)) + w.pos_emb
    for block in w.blocks:
        h = block.ln1(x)
        qkv = block.attn.qkv(h)
        q, k, v = qkv.chunk(3, dim=-1)
        x = x + block.attn.proj(F.scaled_dot_product_attention(q, k, v))
        x = x + mlp(block.ln2(x), block.mlp)
    return w.post_ln(x)


def vision_projection(features, w, config):
    return mlp(features, w.proj_mlp)


def build_vision_model(config, dtype):
    patch_dim = config.enc_patch_size * config.enc_patch_size * config.in_channels
    n_patches = (config.crop_size // config.enc_patch_size) ** 2
    d = config.enc_dim
    vision = nn.ModuleDict(
        {
            "patch_emb": nn.Linear(patch_dim, d, dtype=dtype),
            "blocks": nn.ModuleList(
                [
                    nn.ModuleDict(
                        {
                            "ln1": nn.LayerNorm(d, dtype=dtype),
                            "attn": nn.ModuleDict(
                                {"qkv": nn.Linear(d, 3 * d, dtype=dtype), "proj": nn.Linear(d, d, dtype=dtype)}
                            ),
                            "ln2": nn.LayerNorm(d, dtype=dtype),
                            "mlp": nn.ModuleDict(
                                {"fc1": nn.Linear(d, 2 * d, dtype=dtype), "fc2": nn.Linear(2 * d, d, dtype=dtype)}
                            ),
                        }
                    )
                ]
            ),
            "post_ln": nn.LayerNorm(d, dtype=dtype),
            "proj_mlp": nn.ModuleDict(
                {
                    "fc1": nn.Linear(d, config.proj_inner_dim, dtype=dtype),
                    "fc2": nn.Linear(config.proj_inner_dim, config.proj_out_dim, dtype=dtype),
                }
            ),
        }
    )
    vision.pos_emb = nn.Parameter(torch.zeros(1, n_patches, d, dtype=dtype))
    return vision
'''

_MD_MOONDREAM = '''
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .text import _produce_hidden, build_text_model, lm_head, text_encoder
from .vision import build_vision_model, prepare_crops, vision_encoder, vision_projection


@dataclass(frozen=True)
class TextConfig:
    dim: int = 32
    ff_dim: int = 64
    n_layers: int = 2
    vocab_size: int = 128
    max_context: int = 512
    n_heads: int = 4
    n_kv_heads: int = 4
    prefix_attn: int = 17


@dataclass(frozen=True)
class VisionConfig:
    enc_dim: int = 16
    enc_patch_size: int = 7
    crop_size: int = 28
    in_channels: int = 3
    proj_out_dim: int = 32
    proj_inner_dim: int = 32


@dataclass(frozen=True)
class TokenizerConfig:
    bos_id: int = 0
    eos_id: int = 0
    answer_id: int = 3
    templates: dict = field(default_factory=lambda: {"query": {"prefix": [1, 5, 2], "suffix": [3]}})


@dataclass(frozen=True)
class MoondreamConfig:
    text: TextConfig = TextConfig()
    vision: VisionConfig = VisionConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    vocab: tuple = ()

    @classmethod
    def from_dict(cls, d):
        return cls(
            TextConfig(**d.get("text", {})),
            VisionConfig(**d.get("vision", {})),
            TokenizerConfig(**d.get("tokenizer", {})),
            tuple(d.get("vocab", ())),
        )


@dataclass(frozen=True)
class EncodedImage:
    pos: int
    prefix: torch.Tensor  # BOS + image embeddings (the real one keeps KV caches)


def _tokenizer(vocab):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(list(vocab[:5]))
    return tokenizer


class MoondreamModel(nn.Module):
    def __init__(self, config, dtype=torch.float32, setup_caches=True):
        super().__init__()
        self.config = config
        self.tokenizer = _tokenizer(config.vocab)
        self.vision = build_vision_model(config.vision, dtype)
        self.text = build_text_model(config.text, dtype)
        self.region = nn.ModuleDict({"coord_encoder": nn.Linear(4, config.text.dim, dtype=dtype)})
        self.calls = []

    @property
    def device(self):
        return self.vision.pos_emb.device

    def _run_vision_encoder(self, image):
        crops = prepare_crops(image, self.config.vision, self.device, self.vision.pos_emb.dtype)
        features = vision_encoder(crops, self.vision, self.config.vision)[0]
        return vision_projection(features, self.vision, self.config.vision)

    def encode_image(self, image, settings=None):
        if isinstance(image, EncodedImage):
            return image
        with torch.inference_mode():
            img_emb = self._run_vision_encoder(image)
            bos_emb = text_encoder(torch.tensor([[self.config.tokenizer.bos_id]], device=self.device), self.text)
            prefix = torch.cat([bos_emb, img_emb[None]], dim=1)
        return EncodedImage(pos=prefix.size(1), prefix=prefix)

    def query(self, image=None, question=None, reasoning=False, spatial_refs=None, stream=False, settings=None):
        if question is None:
            raise ValueError("question must be provided.")
        encoded = self.encode_image(image)
        t = self.config.tokenizer
        prompt = t.templates["query"]["prefix"] + self.tokenizer.encode(question).ids + t.templates["query"]["suffix"]
        prompt += t.templates["query"]["suffix"]  # as 2025-06-21's query() without reasoning
        max_tokens = settings.get("max_tokens", 768) if settings else 768
        temperature = settings.get("temperature", 0.5) if settings else 0.5
        self.calls.append({"question": question, "settings": None if settings is None else dict(settings)})
        out = []
        with torch.inference_mode():
            ids = torch.tensor([prompt], device=self.device)
            x = torch.cat([encoded.prefix, text_encoder(ids, self.text)], dim=1)
            while len(out) < max_tokens:
                logits = lm_head(_produce_hidden(x, self.text, self.config.text), self.text)
                logits[:, t.answer_id] = float("-inf")
                if temperature == 0:
                    token = int(torch.argmax(logits, dim=-1))
                else:
                    token = int(torch.multinomial(torch.softmax(logits.float() / temperature, dim=-1), 1))
                if token == t.eos_id:
                    break
                out.append(token)
                x = torch.cat([x, text_encoder(torch.tensor([[token]], device=self.device), self.text)], dim=1)
        return {"answer": " " + self.tokenizer.decode(out)}

    def caption(self, image, length="normal", settings=None):
        return {"caption": self.query(image, "caption", settings=settings)["answer"]}
'''

_MD_HF = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from .moondream import MoondreamConfig, MoondreamModel
from .text import *  # noqa: F403 (as the release: remote-code files load with their module)
from .vision import *  # noqa: F403


class HfConfig(PretrainedConfig):
    _auto_class = "AutoConfig"
    model_type = "moondream1"

    def __init__(self, config=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config or {}


class HfMoondream(PreTrainedModel):
    _auto_class = "AutoModelForCausalLM"
    config_class = HfConfig
    base_model_prefix = "hf_moondream"

    def __init__(self, config):
        super().__init__(config)
        self.model = MoondreamModel(MoondreamConfig.from_dict(config.config), setup_caches=False)
        self.post_init()

    def _init_weights(self, module):
        std = 0.2
        with torch.no_grad():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
            if isinstance(module, nn.ModuleDict) and isinstance(getattr(module, "wte", None), nn.Parameter):
                module.wte.normal_(0.0, 1.0)
            if isinstance(module, nn.ModuleDict) and isinstance(getattr(module, "pos_emb", None), nn.Parameter):
                module.pos_emb.normal_(0.0, std)

    @property
    def encode_image(self):
        return self.model.encode_image

    @property
    def query(self):
        return self.model.query

    @property
    def caption(self):
        return self.model.caption

    @property
    def calls(self):
        return self.model.calls

    def answer_question(self, image_embeds, question, tokenizer=None, chat_history="", result_queue=None, **kwargs):
        return self.query(image_embeds, question)["answer"].strip()
'''

#: The stand-in's vocabulary: ids 0-4 are moondream's special ids (0 BOS/EOS, 3 answer), then words.
TRAINABLE_SPECIALS = ["<|endoftext|>", "<|md_reserved_0|>", "<|md_reserved_1|>", "<|md_reserved_2|>", "<unk>"]


def trainable_vocab(extra_text: str = "") -> list[str]:
    """Specials, ``query`` (the template's word), then every word of the prompts, the filler and ``extra_text``."""
    import re

    words = ["query"]
    for text in [*_tokenizer_sentences(), extra_text]:
        words += re.findall(r"\w+|[^\w\s]+", text)
    return TRAINABLE_SPECIALS + [w for w in dict.fromkeys(words) if w not in TRAINABLE_SPECIALS]


def write_trainable_standin(folder: Path, *, extra_text: str = "", seed: int = 0) -> Path:
    """Write a tiny, randomly initialised model of moondream2's 2025 architecture as a remote-code folder.

    ``extra_text``: words the tokenizer must know (the answers a test trains on). Loads with
    ``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)``; give each variant its own
    folder name (remote code is cached per folder name).
    """
    import json

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"text": _MD_TEXT, "vision": _MD_VISION, "moondream": _MD_MOONDREAM, "hf_moondream": _MD_HF}
    for name, code in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")
    vocab = trainable_vocab(extra_text)
    query_id = vocab.index("query")
    config = {
        "model_type": "moondream1",
        "architectures": ["HfMoondream"],
        "auto_map": {"AutoConfig": "hf_moondream.HfConfig", "AutoModelForCausalLM": "hf_moondream.HfMoondream"},
        "config": {
            "text": {"vocab_size": len(vocab)},
            "tokenizer": {"templates": {"query": {"prefix": [1, query_id, 2], "suffix": [3]}}},
            "vocab": vocab,
        },
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    loaded_config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_config(loaded_config, trust_remote_code=True)
    model.save_pretrained(folder)
    return folder
