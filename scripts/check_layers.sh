#!/usr/bin/env bash
# The one-way rule of pipeline/'s rooms, checked on the #include lines:
#   codecs   includes nothing of datasets, core, engines, outputs, api, commands
#   datasets includes nothing of core, engines, outputs, api, commands (codecs is fine)
#   core     includes nothing of engines, outputs, api, commands
#   engines  includes nothing of outputs, api, commands   } they meet at core's OutputSink
#   outputs  includes nothing of engines, api, commands   }
#   api      (imgprep/imgprep.h) includes nothing of commands
#   commands may include all of them.
# Also refuses a quoted include that climbs out of its room ("../../x.h"). Prints the offending
# lines and exits 1; prints nothing and exits 0 when the rule holds. Usage: scripts/check_layers.sh
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

status=0
check() {  # check ROOM_DIR FORBIDDEN_ROOM...
  local dir=$1
  shift
  local pattern
  local rooms
  rooms="($(IFS='|'; echo "$*"))/"
  # api's public header is imgprep/imgprep.h, beside no folder of its own.
  case " $* " in *" api "*) rooms="($rooms|imgprep\.h)" ;; esac
  pattern="#[[:space:]]*include[[:space:]]*[\"<]imgprep/$rooms"
  if [ ! -d "$dir" ]; then
    echo "check_layers: no folder $dir" >&2
    status=1
    return
  fi
  if grep -rnE "$pattern" "$dir"; then
    status=1
  fi
}

check pipeline/codecs datasets core engines outputs api commands
check datasets core engines outputs api commands
check pipeline/core engines outputs api commands
check pipeline/engines outputs api commands
check pipeline/outputs engines api commands
check pipeline/api commands

# Quoted includes that leave their room (../ twice: out of src/ and out of the room).
if grep -rnE '#[[:space:]]*include[[:space:]]*"(\.\./){2,}' pipeline datasets; then
  status=1
fi
# The old flat folder's include path must not come back.
if grep -rnE '#[[:space:]]*include[[:space:]]*[\"<]imgprep/pipeline/' pipeline datasets cli bench fuzz tests; then
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "check_layers: the lines above break pipeline/'s one-way dependencies (see README.md, Layout)" >&2
fi
exit "$status"
