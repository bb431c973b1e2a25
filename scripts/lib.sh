# SPDX-License-Identifier: GPL-2.0-or-later
# Shell helpers shared by configure and scripts/.

die() {
    echo "error: $*" >&2
    exit 1
}

info() {
    echo "$*" >&2
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
