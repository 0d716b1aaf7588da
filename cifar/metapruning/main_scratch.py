"""Train the searched architecture from scratch -- MetaPruning's own last step (Sec. 3.4).

--budget E: 160 epochs; --budget B: int(160 x FLOPs(full width) / FLOPs(searched)). Batch 128, lr 0.1
decayed linearly to 0 (the authors' schedule), weight decay 4e-5, label smoothing 0.1.
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("metapruning", epochs=160, lr=0.1, batch_size=128, weight_decay=4e-5, schedule="linear")
