# shellcheck shell=bash
# scripts/lib.sh: helpers the scripts in this folder source. Not run on its
# own. The sourcing script defines fail() (print a reason, exit 1).

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

# ensure COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is
# missing (an update first only if the plain install fails); fails loudly
# when it cannot, never carries on without the tool.
ensure() {
    local command=$1 package=$2
    command -v "$command" >/dev/null && return 0
    echo "installing $package (for $command) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo_cmd[@]}" apt-get install -y -qq "$package" >&2; then
        "${sudo_cmd[@]}" apt-get update -qq >&2 || fail "apt-get update failed"
        "${sudo_cmd[@]}" apt-get install -y -qq "$package" >&2 ||
            fail "cannot install $package (needed for $command)"
    fi
    command -v "$command" >/dev/null || fail "$command still missing after installing $package"
}

# capkv_binary REPO: prints the capkv binary to use, $CAPKV_BIN or a fresh
# release build of REPO. Call as `bin=$(capkv_binary "$repo") || exit 1`.
capkv_binary() {
    local bin
    if [[ -n ${CAPKV_BIN:-} ]]; then
        bin=$CAPKV_BIN
    else
        (cd "$1" && cargo build --release --quiet -p capkv) >&2 || fail "cargo build --release -p capkv failed"
        bin=$1/target/release/capkv
    fi
    [[ -x $bin ]] || fail "no capkv binary at $bin"
    printf '%s\n' "$bin"
}
