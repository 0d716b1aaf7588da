"""MetaPruning on ImageNet, step 1: train the PruningNet (Liu et al. 2019, Sec. 3.2; spec B.3) -- one weight
generator per conv, a new random width encoding every batch, label smoothing 0.1, 50 images per class
held out for the search. The authors' MobileNet V2 recipe (1.4x base widths): 64 epochs, batch 512, lr 0.25
decayed linearly to 0, no weight decay. MobileNet V1: add --arch mobilenet_v1 --weight-decay 4e-5.
ResNet-50: --arch resnet50_stages --epochs 32 --batch-size 256 --lr 0.1 --schedule step
--milestones 0.25 0.5 0.75 --weight-decay 1e-4.
"""
from common.arms import train

if __name__ == "__main__":
    train("metapruning", arch="mobilenet_v2", dataset="imagenet", epochs=64, lr=0.25, batch_size=512, lr_batch=512,
          weight_decay=0.0, schedule="linear")
