"""Fine-tune an IMP-pruned model at a constant lr of 0.001 for 40 epochs (FT, the rethinking
comparison's fine-tuning; main_imp.py --retrain FT|LRW|SLR|CLR|LLR|ALLR runs IMP's own schedules).
The engine keeps the mask applied, so pruned weights stay zero."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("imp", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
