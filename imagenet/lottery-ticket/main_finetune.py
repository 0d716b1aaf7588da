"""Fine-tune the pruned weights of a Lottery Ticket round on ImageNet: 20 epochs at lr 0.001, batch 256."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("lottery-ticket", epochs=20, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4,
             schedule="constant")
