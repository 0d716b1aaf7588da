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

# parse_table_flags "$@"   read the flags every table script shares into the script's variables:
#   --dataset --archs --seeds --epochs --ft-epochs --runs --data-dir  (plain variables)
#   --subset --test-subset --cfg                                      (arrays, e.g. (--subset 3000))
#   -- extra training flags                                           (the array extra)
# A flag is accepted only if the script declared its variable (set the defaults first). A script's
# own flags go through a function method_flag FLAG VALUE that it defines, returning 1 for a flag it
# does not know. Anything else is one error line and exit 2. At the end it sets the array common:
# the flags every training step of the script takes (--dataset --data-dir --subset --test-subset,
# then the extra training flags).
parse_table_flags() {
  local flag var
  while [[ $# -gt 0 ]]; do
    flag=$1
    if [[ $flag == -- ]]; then shift; extra=("$@"); break; fi
    if [[ $# -lt 2 ]]; then echo "$(basename "$0"): $flag needs a value" >&2; exit 2; fi
    var=${flag#--}; var=${var//-/_}
    case $flag in
      --dataset|--archs|--seeds|--epochs|--ft-epochs|--runs|--data-dir)
        if declare -p "$var" &>/dev/null; then printf -v "$var" '%s' "$2"; shift 2; continue; fi ;;
      --subset|--test-subset|--cfg)
        if declare -p "$var" &>/dev/null; then eval "$var=(\"\$flag\" \"\$2\")"; shift 2; continue; fi ;;
    esac
    if declare -F method_flag >/dev/null && method_flag "$flag" "$2"; then shift 2; continue; fi
    echo "$(basename "$0"): unknown option $flag (the options are listed at the top of $0)" >&2
    exit 2
  done
  common=(--dataset "$dataset" --data-dir "${data_dir:-data}" ${subset[@]+"${subset[@]}"}
          ${test_subset[@]+"${test_subset[@]}"} ${extra[@]+"${extra[@]}"})
}

# retrain_arms M ROOT TAG   the arms that start from ROOT/pruned/TAG/pruned.pt, with the script's
# $ft_epochs, $epochs and common flags (array common): fine-tune (skipped when ft_epochs is 0),
# Scratch-E and Scratch-B, each in ROOT/<arm>/TAG, using the entry points of method folder M.
retrain_arms() {
  local m=$1 root=$2 tag=$3
  local pruned=$root/pruned/$tag/pruned.pt
  if [[ $ft_epochs -gt 0 ]]; then
    run_step "$root/finetune/$tag" python "$m/main_finetune.py" --checkpoint "$pruned" --epochs "$ft_epochs" "${common[@]}"
  fi
  run_step "$root/scratch-E/$tag" python "$m/main_scratch.py" --checkpoint "$pruned" --budget E --epochs "$epochs" "${common[@]}"
  run_step "$root/scratch-B/$tag" python "$m/main_scratch.py" --checkpoint "$pruned" --budget B --epochs "$epochs" "${common[@]}"
}

# report M [FLAGS...]   the table of method M, printed and written to $runs/$dataset/M/table.md, and its
# plot, $runs/$dataset/M/plot.png, from the result.json files; FLAGS go to collect_results.py (--metric
# to both).
report() {
  local m=$1; shift
  local dir=$runs/$dataset/$m metric=()
  python scripts/collect_results.py "$runs" --method "$m" --dataset "$dataset" --out "$dir/table.md" "$@"
  if [[ " $* " == *" --metric final "* ]]; then metric=(--metric final); fi
  python scripts/plot_results.py "$runs" --method "$m" --dataset "$dataset" "${metric[@]}" --out "$dir/plot.png"
}
