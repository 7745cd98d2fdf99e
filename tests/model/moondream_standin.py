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
