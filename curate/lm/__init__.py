"""Language-model stage on Lightning: continued pretraining on packed blocks, SFT with an
assistant-only loss, DPO. Models are transformers causal LMs; the demo model is a tiny Llama
built from a config with a byte-level BPE tokenizer trained on the demo corpus."""
