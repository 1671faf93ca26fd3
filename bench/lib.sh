# Helpers shared by the bench scripts (sourced, not run).

# The median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The image files under FOLDER (symlinks followed), one path a line, in imgprep's byte-wise order.
list_images() {
  find -L "$1" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.bmp' \
    -o -iname '*.webp' -o -iname '*.tif' -o -iname '*.tiff' \) | LC_ALL=C sort
}

# Runs an imgprep command (the rest of the arguments) with its output in LOG. Exit status 1
# (some inputs failed) still completes a run; 2 and above end the script with the log.
run_checked() {
  local log=$1 rc=0
  shift
  "$@" >"$log" 2>&1 || rc=$?
  if ((rc > 1)); then
    echo "$(basename "$0"): failed (exit $rc): $*" >&2
    cat "$log" >&2
    exit 1
  fi
}
