"""Graph wiring: self_instruct (inner loop); later graphs (corpus, baselines, meta_optimizer) join here."""
