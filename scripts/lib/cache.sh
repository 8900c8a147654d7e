# shellcheck shell=bash
# Shared by every script that installs or builds something into vigil's cache
# (${VIGIL_CACHE:-~/.cache/vigil}): one way to do it safely when several
# processes ask for the same thing at once on an empty cache.
#
#   once NAME DEST BUILDER [ARGS...]
#
# Unless DEST exists, takes the lock $CACHE/locks/NAME.lock, checks again,
# and runs `BUILDER ARGS... STAGE` with a fresh private directory STAGE beside
# DEST. BUILDER leaves its result at STAGE/result (a file or a directory),
# which is then renamed onto DEST in one step: a reader sees nothing or the
# whole thing, never a half-written one, and a second caller waiting on the
# lock finds DEST there and returns. A failed build leaves no DEST and removes
# its stage.

CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"

once() {
  local name=$1 dest=$2; shift 2
  [ -e "$dest" ] && return 0
  mkdir -p "$CACHE/locks" "$(dirname "$dest")"
  (
    flock 8
    [ -e "$dest" ] && exit 0
    stage=$(mktemp -d "$(dirname "$dest")/.stage-$name.XXXXXX")
    trap 'chmod -R u+w "$stage" 2>/dev/null; rm -rf "$stage"' EXIT
    "$@" "$stage"
    [ -e "$stage/result" ] || { echo "$name: the build left no result" >&2; exit 1; }
    mv -T "$stage/result" "$dest"
  ) 8>"$CACHE/locks/$name.lock"
}
