# Shared shell helpers for the table scripts (sourced, not run).
# Every step is skipped when its result.json exists and resumed when only its checkpoint
# does, so a killed table script continues where it stopped when run again.

# run_step DIR CMD...   run CMD unless DIR/result.json exists; add --resume if DIR/checkpoint.pt does
run_step() {
  local dir=$1; shift
  if [[ -f "$dir/result.json" ]]; then
    echo "== skip (done): $dir"
    return 0
  fi
  if [[ -f "$dir/checkpoint.pt" ]]; then
    echo "== resume: $dir"
    "$@" --save "$dir" --resume
  else
    echo "== run: $dir"
    "$@" --save "$dir"
  fi
}

# prune_step DIR CMD...   run a prune command unless DIR/pruned.pt exists
prune_step() {
  local dir=$1; shift
  if [[ -f "$dir/pruned.pt" && -f "$dir/result.json" ]]; then
    echo "== skip (done): $dir"
    return 0
  fi
  echo "== prune: $dir"
  "$@" --save "$dir"
}
