"""Fine-tune the shallower SSS network: 40 epochs at a constant lr of 0.001 (as the other CIFAR methods)."""
from common.arms import finetune_main

if __name__ == "__main__":
    finetune_main("sss", epochs=40, lr=0.001, schedule="constant")
