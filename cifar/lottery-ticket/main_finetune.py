"""Fine-tune the pruned weights of a Lottery Ticket round: 40 epochs at a constant lr of 0.001 (the
rethinking comparison's fine-tuning); the mask stays applied."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("lottery-ticket", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
