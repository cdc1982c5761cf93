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

# Background processes the sourcing script started (`cmd & pids+=($!)`).
pids=()

# stop_processes: kills every process in pids and waits for each, so none
# outlives the script (call it from the script's EXIT trap).
stop_processes() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# free_port: a free loopback port (the kernel's choice; it stays free unless
# another process takes it in the instant before the caller binds it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listens on port $1"
}

# test_certificates DIR: a throwaway CA (DIR/ca.crt, ca.key), a server
# certificate for localhost and 127.0.0.1 (DIR/server.crt, server.key) and
# a client certificate (DIR/client.crt, client.key), valid for a day,
# made with openssl. Never commit them.
test_certificates() {
    local dir=$1
    ensure openssl openssl
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" \
        -days 1 -subj /CN=capkv-test-ca 2>/dev/null || fail "openssl: no CA"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/server.ext"
    # An extension makes a certificate X.509 v3, the only version webpki accepts.
    printf 'extendedKeyUsage=clientAuth\n' >"$dir/client.ext"
    local name subject
    for name in server client; do
        subject=/CN=localhost
        [[ $name == client ]] && subject=/CN=client
        openssl req -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" \
            -subj "$subject" 2>/dev/null || fail "openssl: no $name key"
        openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
            -CAcreateserial -out "$dir/$name.crt" -days 1 -extfile "$dir/$name.ext" 2>/dev/null ||
            fail "openssl: no $name certificate"
    done
}
