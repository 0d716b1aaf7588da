"""Fine-tune the shallower SSS network: 40 epochs at a constant lr of 0.001 (as the other CIFAR methods)."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("sss", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
