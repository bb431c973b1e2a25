# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Shell helpers shared by configure and scripts/.  Sourced after $top is
# set to the repository's top directory.

die() {
    echo "error: $*" >&2
    exit 1
}

info() {
    echo "$*" >&2
}

# Under set -e a command nobody expected to fail ends the script: name it,
# so that no exit is silent.  Failures inside a subshell are reported by
# the command of the script that ran it.
report_unexpected_failure() {
    [ "$BASH_SUBSHELL" = 0 ] || return 0
    echo "error: ${0##*/}: line $2: '$3' failed (exit $1)" >&2
}
case $- in
*e*)
    set -E
    trap 'report_unexpected_failure $? $LINENO "$BASH_COMMAND"' ERR
    ;;
esac

# Set the shell variables of config.mak (CACHE_DIR, QEMU_TREE, ...), which
# ./configure writes.
load_config() {
    local key op value
    [ -f "$top/config.mak" ] || die "$top is not configured: run ./configure (or make) first"
    while read -r key op value; do
        [[ $key =~ ^[A-Z_]+$ ]] && [ "$op" = := ] || continue
        printf -v "$key" '%s' "$value"
    done <"$top/config.mak"
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

# git with a fixed identity, so that trees assembled by the scripts do not
# depend on the user's git configuration.
git_q() {
    git -c user.name="VDI host build" -c user.email="build@vdi-host.invalid" \
        -c commit.gpgsign=false -c core.autocrlf=false "$@"
}

# Print "URI<TAB>Signed-By" of the first Debian 'bookworm' entry configured
# in /etc/apt (deb822 .sources first, then one-line .list files), leaving
# out the file install-deps writes.  Nothing when there is none.
debian_archive() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && [ "$f" != /etc/apt/sources.list.d/vdi-host.sources ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
        {
            uri = ""; suites = ""; key = ""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^URIs:/) { uri = $i; sub(/^URIs:[ \t]*/, "", uri); sub(/[ \t].*/, "", uri) }
                if ($i ~ /^Suites:/) { suites = " " $i " " }
                if ($i ~ /^Signed-By:/) { key = $i; sub(/^Signed-By:[ \t]*/, "", key) }
            }
            if (uri != "" && suites ~ /[ \t]bookworm[ \t]/) { print uri "\t" key; exit }
        }' "$f" || true
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
            n = 2; key = ""
            if ($2 ~ /^\[/) {
                for (; n <= NF; n++) {
                    if ($n ~ /^\[?signed-by=/) { key = $n; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) }
                    if ($n ~ /\]$/) { n++; break }
                }
            }
            if ($(n + 1) == "bookworm") { print $n "\t" key; exit }
        }' "$f" || true
    done
}
