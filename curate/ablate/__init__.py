"""Ablations: does a filter setting give a better model? Each variant's documents (a filter run
or a ready folder) train a small LM from scratch at the same token budget over several seeds,
scored on held-out Nordic early-signal tasks; the report says which differences are beyond the
seeds' noise. Entry point: curate.ablate.runner.run_ablation (`curate ablate`)."""
