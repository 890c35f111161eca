"""The demo model: a byte-level BPE tokenizer trained on a corpus with `tokenizers`, Llama 3's
special tokens and a Llama-3-style chat template tagged with {% generation %}, and a tiny Llama
with random weights. A user passes a real model (`meta-llama/Llama-3.1-8B`, a local path)
instead; `TAGGED_LLAMA3_TEMPLATE` fits any tokenizer with Llama 3's header tokens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

BOS, EOS, EOT = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
HEADER_START, HEADER_END = "<|start_header_id|>", "<|end_header_id|>"
SPECIAL_TOKENS = [BOS, EOS, EOT, HEADER_START, HEADER_END]

# Llama 3's format with {% generation %} around what the assistant says, end-of-turn included,
# so apply_chat_template(..., return_assistant_tokens_mask=True) can mark the loss tokens.
TAGGED_LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- generation %}{{- message['content'] | trim }}{{- '<|eot_id|>' }}{%- endgeneration %}"
    "{%- else %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{- message['content'] | trim }}{{- '<|eot_id|>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096):
    """A byte-level BPE tokenizer (as Llama 3's) that, like Llama 3's, prepends BOS when asked
    for special tokens; returned as a transformers fast tokenizer with the tagged template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        additional_special_tokens=[EOT, HEADER_START, HEADER_END],
        chat_template=TAGGED_LLAMA3_TEMPLATE,
        model_max_length=8192,
    )


def tiny_llama(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0):
    """A Llama with random weights, sized for CPU tests and the demo."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 8 // 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(EOT)],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def corpus_texts(paths: list[str | Path]) -> Iterator[str]:
    from curate.documents import read_documents

    for doc in read_documents(paths):
        yield doc.text


def init_tiny(corpus: list[str | Path], output: str | Path, vocab_size: int = 4096, **size) -> Path:
    """Train the tokenizer on `corpus`, build the tiny Llama, save both to `output` atomically."""
    tokenizer = train_tokenizer(corpus_texts(corpus), vocab_size)
    model = tiny_llama(tokenizer, **size)
    from curate.lm.export import save_model

    return save_model(model, tokenizer, output)
