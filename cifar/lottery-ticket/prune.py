"""One round of the Lottery Ticket comparison's pruning, on a trained model (Liu et al. 2019, Sec. 6):
--prune magnitude removes --percent (0.2) of the remaining conv weights by one global magnitude
threshold (Frankle & Carbin 2019); --prune l1 applies L1-norm filter pruning (Li et al. 2017,
--variant A|B) as a mask. main.py runs the whole sequence (rounds, winning tickets, random re-inits)."""
from common.arms import prune

if __name__ == "__main__":
    prune("lottery-ticket")
