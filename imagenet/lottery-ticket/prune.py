"""One round of the Lottery Ticket comparison's pruning on ImageNet, on a trained model: --prune magnitude
removes --percent (0.2) of the remaining conv weights by one global threshold; the result is a mask.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("lottery-ticket")
