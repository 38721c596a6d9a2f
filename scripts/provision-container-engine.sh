#!/usr/bin/env bash
# Provision a container engine that `sam local` can use on this machine.
#
# 1. A real Docker engine that answers and has (or can pull) the real Lambda
#    image public.ecr.aws/lambda/python:3.13-<arch>: nothing else is done.
# 2. Otherwise: podman + runc from apt, podman's Docker-compatible API on
#    unix:///run/podman/podman.sock, an offline stand-in for the Lambda image
#    (the machine's own Python 3.13 + awslambdaric + boto3 in a small rootfs),
#    a moto server image built on it, and the podman network asyncrun-sam-local.
#
# Images are rebuilt only when their inputs change (hash kept as an image label).
# Progress goes to stderr ("provision: ..."); the only stdout line is
#   DOCKER_HOST=<value>          (empty value = use Docker's default)
# so callers can run:  eval "$(scripts/provision-container-engine.sh)"
#
# Environment knobs (all optional):
#   ASYNCRUN_FORCE_STANDIN=1     skip the real-Docker check, always use podman
#   ASYNCRUN_FORCE_REBUILD=1     rebuild both images even if their hash matches
#   ASYNCRUN_PYTHON=/path/python3.13   the Python 3.13 to put in the image
set -euo pipefail

log() { printf 'provision: %s\n' "$*" >&2; }
die() { printf 'provision: ERROR: %s\n' "$*" >&2; exit 1; }

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
SCRIPT_DIR="$(dirname "$SCRIPT_PATH")"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
IMAGE_INPUTS_DIR="$SCRIPT_DIR/lambda-image"
CACHE_DIR="$REPO_ROOT/.cache/lambda-image"

PODMAN_SOCK_PATH=/run/podman/podman.sock
PODMAN_DOCKER_HOST="unix://$PODMAN_SOCK_PATH"
PODMAN_LOG=/tmp/podman-service.log
NETWORK_NAME=asyncrun-sam-local
CONTAINERS_CONF=/etc/containers/containers.conf
LABEL_HASH=io.asyncrun.inputs-hash
LABEL_STANDIN=io.asyncrun.stand-in

case "$(uname -m)" in
  x86_64 | amd64) LAMBDA_ARCH=x86_64 ;;
  aarch64 | arm64) LAMBDA_ARCH=arm64 ;;
  *) die "unsupported machine architecture: $(uname -m)" ;;
esac
LAMBDA_IMAGE="public.ecr.aws/lambda/python:3.13-$LAMBDA_ARCH"
MOTO_VERSION="$(sed -n 's/^moto\[[a-z,]*\]==\([0-9.]*\).*/\1/p' "$IMAGE_INPUTS_DIR/moto-requirements.txt" | head -n1)"
[ -n "$MOTO_VERSION" ] || die "no moto pin found in $IMAGE_INPUTS_DIR/moto-requirements.txt"
MOTO_IMAGE="localhost/asyncrun-moto:$MOTO_VERSION"

# ---------------------------------------------------------------------------
# 1. A real Docker engine with the real Lambda image?
# ---------------------------------------------------------------------------
real_docker_usable() {
  [ "${ASYNCRUN_FORCE_STANDIN:-0}" = 1 ] && return 1
  command -v docker >/dev/null 2>&1 || return 1
  timeout 20 docker info >/dev/null 2>&1 || return 1
  # podman's Docker API (e.g. a DOCKER_HOST left over from an earlier eval) is not a real Docker.
  local server
  server="$(timeout 20 docker version --format '{{.Server.Platform.Name}} {{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null || true)"
  case "$server" in *[Pp]odman*) return 1 ;; esac
  local standin
  if standin="$(docker image inspect --format "{{index .Config.Labels \"$LABEL_STANDIN\"}}" "$LAMBDA_IMAGE" 2>/dev/null)"; then
    [ "$standin" = true ] && return 1 # our own stand-in was loaded into it: not the real image
    log "Docker engine answers and $LAMBDA_IMAGE is present"
    return 0
  fi
  log "Docker engine answers; pulling $LAMBDA_IMAGE"
  timeout 900 docker pull "$LAMBDA_IMAGE" >&2 || { log "cannot pull $LAMBDA_IMAGE: falling back to podman"; return 1; }
}

if real_docker_usable; then
  log "using the real Docker engine (DOCKER_HOST='${DOCKER_HOST:-}')"
  printf 'DOCKER_HOST=%s\n' "${DOCKER_HOST:-}"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "podman provisioning needs root (apt-get, /run/podman, /etc/containers)"

# One provisioning at a time on this machine (parallel test workers may all call this).
mkdir -p /run/lock
exec 9>/run/lock/asyncrun-provision-container-engine.lock
if ! flock -n 9; then
  log "another provisioning run holds the lock; waiting (max 30 min)"
  flock -w 1800 9 || die "timed out waiting for the provisioning lock"
fi

# ---------------------------------------------------------------------------
# 2. podman + runc (+ busybox-static for the image's /bin/sh, mv, cp, chmod)
# ---------------------------------------------------------------------------
need_pkgs=()
command -v podman >/dev/null 2>&1 || need_pkgs+=(podman)
command -v runc >/dev/null 2>&1 || need_pkgs+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
# DNS on user-defined networks: netavark + aardvark-dns.
command -v aardvark-dns >/dev/null 2>&1 || [ -x /usr/lib/podman/aardvark-dns ] || need_pkgs+=(aardvark-dns)
[ -x /usr/lib/podman/netavark ] || command -v netavark >/dev/null 2>&1 || need_pkgs+=(netavark)
# netavark sets up bridge networking and port publishing with iptables.
command -v iptables >/dev/null 2>&1 || need_pkgs+=(iptables)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if ! command -v podman >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update -qq >&2
  fi
  log "apt-get install ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 \
    || { log "install failed; retrying after apt-get update"; apt-get update -qq >&2;
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2; }
else
  log "podman, runc, netavark, aardvark-dns, iptables, busybox-static already installed"
fi
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "busybox-static did not provide $BUSYBOX"

# Set KEY = VALUE in [SECTION] of containers.conf unless KEY is already set there.
ensure_conf() {
  local section="$1" key="$2" value="$3" current
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  [ -f "$CONTAINERS_CONF" ] || printf '# written by scripts/provision-container-engine.sh\n' >"$CONTAINERS_CONF"
  current="$(awk -v s="[$section]" -v k="$key" '
      /^[[:space:]]*\[/ { gsub(/[[:space:]]/, ""); insec = ($0 == s); next }
      insec && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); print; exit }
    ' "$CONTAINERS_CONF")"
  if [ -n "$current" ]; then
    [ "$current" = "$value" ] || log "keeping existing $CONTAINERS_CONF [$section] $key = $current (wanted $value)"
    return 0
  fi
  log "setting [$section] $key = $value in $CONTAINERS_CONF"
  if grep -Eq "^[[:space:]]*\[$section\][[:space:]]*$" "$CONTAINERS_CONF"; then
    local tmp
    tmp="$(mktemp)"
    awk -v s="[$section]" -v line="$key = $value" '
        { print }
        !done { t = $0; gsub(/[[:space:]]/, "", t); if (t == s) { print line; done = 1 } }
      ' "$CONTAINERS_CONF" >"$tmp"
    cat "$tmp" >"$CONTAINERS_CONF"
    rm -f "$tmp"
  else
    printf '\n[%s]\n%s = %s\n' "$section" "$key" "$value" >>"$CONTAINERS_CONF"
  fi
}
# crun/runc cannot raise RLIMIT_NOFILE here, and the cgroup setup is hybrid: use runc + cgroupfs.
ensure_conf containers default_ulimits '[]'
ensure_conf engine runtime '"runc"'
ensure_conf engine cgroup_manager '"cgroupfs"'
# No systemd journal here.
ensure_conf engine events_logger '"file"'
ensure_conf network network_backend '"netavark"'

# ---------------------------------------------------------------------------
# 3. podman's Docker-compatible API service
# ---------------------------------------------------------------------------
socket_ok() {
  [ -S "$PODMAN_SOCK_PATH" ] &&
    [ "$(curl -fsS --max-time 3 --unix-socket "$PODMAN_SOCK_PATH" http://d/_ping 2>/dev/null || true)" = OK ]
}
if socket_ok; then
  log "podman API already answers on $PODMAN_SOCK_PATH"
else
  mkdir -p "$(dirname "$PODMAN_SOCK_PATH")"
  pidfile=/run/podman/asyncrun-podman-service.pid
  if [ -f "$pidfile" ] && grep -qa 'system.service' "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
    log "podman service (pid $(cat "$pidfile")) is starting; waiting for it"
  else
    rm -f "$PODMAN_SOCK_PATH"
    log "starting podman system service on $PODMAN_DOCKER_HOST (log: $PODMAN_LOG)"
    # Detached (own session, cwd /, without the lock fd) so it outlives this script and its caller.
    (cd / && exec setsid nohup podman system service --time=0 "$PODMAN_DOCKER_HOST" >>"$PODMAN_LOG" 2>&1 </dev/null 9>&-) &
    echo $! >"$pidfile"
  fi
  for _ in $(seq 1 60); do
    socket_ok && break
    sleep 0.5
  done
  socket_ok || die "podman API did not answer within 30 s; see $PODMAN_LOG"
  log "podman API answers on $PODMAN_SOCK_PATH"
fi

# ---------------------------------------------------------------------------
# 4./5. The stand-in Lambda image (rebuilt only when its inputs change)
# ---------------------------------------------------------------------------
find_python313() {
  local cand="" d
  if [ -n "${ASYNCRUN_PYTHON:-}" ]; then
    cand="$ASYNCRUN_PYTHON"
  elif command -v python3.13 >/dev/null 2>&1 && python3.13 -c '' 2>/dev/null; then
    cand="$(command -v python3.13)"
  elif command -v pyenv >/dev/null 2>&1 && d="$(pyenv prefix 3.13.0 2>/dev/null)" && [ -x "$d/bin/python3.13" ]; then
    cand="$d/bin/python3.13"
  else
    for d in /root/.pyenv/versions/3.13.*; do [ -x "$d/bin/python3.13" ] && cand="$d/bin/python3.13"; done
  fi
  [ -n "$cand" ] || die "Python 3.13 not found (python3.13 on PATH, pyenv 3.13.0, /root/.pyenv/versions/3.13.*)"
  # Resolve shims and venvs to the real installation.
  "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 13); print(sys.base_prefix)' \
    || die "$cand is not a working Python 3.13"
}
PY_PREFIX="$(find_python313)"
PY_BIN="$PY_PREFIX/bin/python3.13"
[ -x "$PY_BIN" ] || die "expected interpreter $PY_BIN not found"
PY_VERSION="$("$PY_BIN" -c 'import sys, platform; print(sys.version.replace(chr(10), " "), platform.machine())')"
log "Python for the image: $PY_BIN ($PY_VERSION)"

# Extract the text between two marker lines of this script (part of the build inputs).
script_section() { sed -n "/^#@$1-begin\$/,/^#@$1-end\$/p" "$SCRIPT_PATH"; }
image_label() { podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true; }
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
# After a rebuild, drop the previous image unless a container still uses it.
drop_old_image() { # OLD_ID NAME
  [ -n "$1" ] && [ "$1" != "$(image_id "$2")" ] || return 0
  if podman rmi "$1" >/dev/null 2>&1; then log "removed the previous $2 (${1:0:12})"; fi
}

#@image-build-begin
pip_install_target() { # TARGET ARGS...
  local target="$1"
  shift
  if "$PY_BIN" -m pip --version >/dev/null 2>&1; then
    "$PY_BIN" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
      --no-compile --only-binary=:all: --target "$target" "$@" >&2
  elif command -v uv >/dev/null 2>&1; then
    uv pip install --quiet --python "$PY_BIN" --no-compile --only-binary=:all: --target "$target" "$@" >&2
  else
    die "neither pip for $PY_BIN nor uv is available"
  fi
}

# Print the shared libraries (host paths) the given ELF files need, one a line.
# Libraries that live inside SKIP_PREFIX (e.g. a wheel's own .libs) are left out.
elf_deps() { # SKIP_PREFIX FILE...
  local skip="$1" f
  shift
  for f in "$@"; do
    ldd "$f" 2>/dev/null | awk -v f="$f" '
        $2 == "=>" && $3 == "not" { print "provision: WARNING: " f " needs " $1 " (not found)" > "/dev/stderr"; next }
        $2 == "=>" && $3 ~ /^\// { print $3; next }
        $1 ~ /^\// { print $1 }' || true
  done | { if [ -n "$skip" ]; then grep -v "^$skip/" || true; else cat; fi; } | sort -u
}

# Copy host files into ROOT at the same absolute path (symlinks dereferenced).
copy_into_root() { # ROOT FILE...
  local root="$1" f
  shift
  for f in "$@"; do
    [ -e "$root$f" ] && continue
    mkdir -p "$root$(dirname "$f")"
    cp -L --preserve=mode "$f" "$root$f"
  done
}

build_lambda_image() {
  local hash="$1" work="$CACHE_DIR/build" root py_lib stdlib sos libs f
  root="$work/rootfs"
  rm -rf "$work"
  mkdir -p "$root"

  # Merged-/usr layout, as on Amazon Linux 2023.
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{etc,tmp,opt,var/task,var/runtime,var/rapid,proc,sys,dev,run}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp"

  # /bin/sh and the few tools SAM's image build runs (mv, chmod, cp, rm): a static busybox.
  cp "$BUSYBOX" "$root/usr/bin/busybox"
  for f in $("$BUSYBOX" --list); do
    [ -e "$root/usr/bin/$f" ] || ln -s busybox "$root/usr/bin/$f"
  done

  # Python 3.13 at its original prefix (it is linked to libpython by absolute RUNPATH).
  py_lib="$PY_PREFIX/lib"
  stdlib="$py_lib/python3.13"
  mkdir -p "$root$PY_PREFIX/bin" "$root$py_lib"
  cp -L "$PY_BIN" "$root$PY_PREFIX/bin/python3.13"
  ln -s python3.13 "$root$PY_PREFIX/bin/python3"
  ln -s python3.13 "$root$PY_PREFIX/bin/python"
  tar -C "$py_lib" -cf - --exclude=__pycache__ --exclude='python3.13/site-packages/*' \
    --exclude='python3.13/config-3.13*' python3.13 | tar -C "$root$py_lib" -xf -
  (
    cd "$root$stdlib"
    rm -rf test idlelib tkinter turtledemo ensurepip turtle.py __phello__ pydoc_data/_pydoc.css \
      lib-dynload/_tkinter* lib-dynload/_test* lib-dynload/xxlimited* lib-dynload/_xxtestfuzz* \
      lib-dynload/_ctypes_test* lib-dynload/xxsubtype*
  )
  if [ "$root$PY_PREFIX" != "$root/var/lang" ]; then
    mkdir -p "$root/var"
    ln -s "$PY_PREFIX" "$root/var/lang"
  fi

  # The runtime: awslambdaric and boto3 in /var/runtime, and the bootstrap.
  log "installing $(grep -cv '^\s*\(#\|$\)' "$IMAGE_INPUTS_DIR/requirements.txt") pinned packages into /var/runtime"
  pip_install_target "$root/var/runtime" -r "$IMAGE_INPUTS_DIR/requirements.txt"
  rm -rf "$root/var/runtime/bin"
  cat >"$root/var/runtime/bootstrap" <<'BOOTSTRAP'
#!/bin/sh
# Stand-in for the python3.13 Lambda base image's bootstrap (asyncrun, offline image).
# Import order as in the real runtime: function code, then layers, then the runtime's libraries.
export AWS_EXECUTION_ENV=AWS_Lambda_python3.13
handler="${_HANDLER:-${1:-}}"
[ -n "$handler" ] || { echo "bootstrap: no handler (set _HANDLER or pass it as the first argument)" >&2; exit 142; }
export _HANDLER="$handler"
task_root="${LAMBDA_TASK_ROOT:-/var/task}"
runtime_dir="${LAMBDA_RUNTIME_DIR:-/var/runtime}"
# -P: no implicit cwd entry, so sys.path starts exactly with PYTHONPATH (task root first).
export PYTHONPATH="$task_root:${PYTHONPATH:-/opt/python/lib/python3.13/site-packages:/opt/python}:$runtime_dir"
cd "$task_root"
if [ -n "${AWS_LAMBDA_EXEC_WRAPPER:-}" ]; then
  wrapper="$AWS_LAMBDA_EXEC_WRAPPER"
  [ -f "$wrapper" ] || { echo "$wrapper: does not exist" >&2; exit 127; }
  [ -x "$wrapper" ] || { echo "$wrapper: is not an executable" >&2; exit 126; }
  exec "$wrapper" /var/lang/bin/python3.13 -P -m awslambdaric "$handler"
fi
exec /var/lang/bin/python3.13 -P -m awslambdaric "$handler"
BOOTSTRAP
  chmod 755 "$root/var/runtime/bootstrap"

  # Shared libraries: what ldd says the interpreter, the extension modules and busybox need.
  mapfile -t sos < <(find "$root$stdlib/lib-dynload" "$root/var/runtime" -name '*.so*' -type f)
  local libdir
  libdir="$(dirname "$(elf_deps "" "$PY_BIN" | grep '/libc\.so\.6$')")"
  mapfile -t libs < <(
    {
      elf_deps "$root" "$PY_BIN" "${sos[@]}"
      # dlopen()ed by glibc (thread cancellation / unwinding), never listed by ldd.
      [ -e "$libdir/libgcc_s.so.1" ] && echo "$libdir/libgcc_s.so.1"
      # The libraries manylinux wheels may link without bundling them (pydantic-core
      # needs librt), all present in the real image: a function's layer may need any.
      for f in libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libutil.so.1 libresolv.so.2 \
        libnsl.so.1 libanl.so.1 libcrypt.so.1 libnss_files.so.2 libnss_dns.so.2 libstdc++.so.6; do
        [ -e "$libdir/$f" ] && echo "$libdir/$f"
      done
    } | sort -u
  )
  copy_into_root "$root" "${libs[@]}"
  printf '%s\n' "${libs[@]}" >"$CACHE_DIR/base-libs.txt"
  if command -v strip >/dev/null 2>&1; then
    strip --strip-unneeded "$root$PY_PREFIX/bin/python3.13" "$root$py_lib"/libpython3.13.so* \
      "$root$stdlib"/lib-dynload/*.so 2>/dev/null || true
  fi

  # Minimal /etc, CA bundle and UTC zone file.
  printf 'root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nsbx_user1051:x:990:\nnobody:x:65534:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  : >"$root/etc/hosts"
  : >"$root/etc/resolv.conf"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    copy_into_root "$root" /etc/ssl/certs/ca-certificates.crt
    mkdir -p "$root/etc/pki/tls/certs" "$root/usr/lib/ssl"
    ln -s /etc/ssl/certs/ca-certificates.crt "$root/etc/pki/tls/certs/ca-bundle.crt"
    ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
    ln -s /etc/ssl/certs "$root/usr/lib/ssl/certs"
  fi
  [ -f /usr/share/zoneinfo/UTC ] && copy_into_root "$root" /usr/share/zoneinfo/UTC && ln -s /usr/share/zoneinfo/UTC "$root/etc/localtime"
  chmod 755 "$root/root" 2>/dev/null || true

  # Byte-code for the stdlib and the runtime only (fresh containers start much faster with it).
  "$PY_BIN" -m compileall -q -j 0 -s "$root" -p / "$root$stdlib" "$root/var/runtime" >/dev/null

  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/rootfs.tar" .
  podman import --quiet \
    --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
    --change 'WORKDIR /var/task' \
    --change 'ENV LANG=en_US.UTF-8' \
    --change 'ENV TZ=:UTC' \
    --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
    --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change "LABEL $LABEL_STANDIN=true" \
    --change "LABEL $LABEL_HASH=$hash" \
    --message "asyncrun stand-in for $LAMBDA_IMAGE" \
    "$work/rootfs.tar" "$LAMBDA_IMAGE" >/dev/null
  rm -rf "$work"

  # Smoke test: the interpreter, the stdlib's extension modules and the runtime load in a container.
  if ! podman run --rm --network=none -e PYTHONPATH=/var/runtime --entrypoint /var/lang/bin/python3.13 "$LAMBDA_IMAGE" -c '
import ssl, sqlite3, ctypes, lzma, bz2, zlib, hashlib, decimal, json, uuid, zoneinfo, readline
import awslambdaric, runtime_client, simplejson, boto3
boto3.client("s3", region_name="us-east-1")
' >&2; then
    podman rmi -f "$LAMBDA_IMAGE" >/dev/null 2>&1 || true
    die "the new $LAMBDA_IMAGE failed its smoke test"
  fi
}
#@image-build-end

lambda_hash="$(
  {
    script_section image-build
    cat "$IMAGE_INPUTS_DIR/requirements.txt"
    echo "$PY_PREFIX $PY_VERSION $LAMBDA_ARCH"
  } | sha256sum | cut -c1-32
)"
mkdir -p "$CACHE_DIR"
if [ "${ASYNCRUN_FORCE_REBUILD:-0}" != 1 ] && [ "$(image_label "$LAMBDA_IMAGE" "$LABEL_HASH")" = "$lambda_hash" ]; then
  log "$LAMBDA_IMAGE is up to date ($lambda_hash)"
else
  log "building stand-in image $LAMBDA_IMAGE ($lambda_hash)"
  old_id="$(image_id "$LAMBDA_IMAGE")"
  build_lambda_image "$lambda_hash"
  echo "$lambda_hash" >"$CACHE_DIR/lambda-image.stamp"
  # SAM caches its own image (base + RIE) as <repo>:3.13-rapid-<arch> and, with --skip-pull-image,
  # never notices a new base: drop those so the next `sam local` rebuilds them.
  for img in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(public\.ecr\.aws/lambda/python:3\.13-rapid-|(localhost/|docker\.io/)?samcli/lambda-python:3\.13)' || true); do
    log "removing SAM's derived image $img"
    podman rmi -f "$img" >/dev/null 2>&1 || true
  done
  drop_old_image "$old_id" "$LAMBDA_IMAGE"
  log "built $LAMBDA_IMAGE: $(podman image inspect --format '{{.Size}}' "$LAMBDA_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
fi

# ---------------------------------------------------------------------------
# 6. The moto server image (on the stand-in base; rebuilt only when inputs change)
# ---------------------------------------------------------------------------
#@moto-build-begin
build_moto_image() {
  local hash="$1" ctx="$CACHE_DIR/moto-build" sos libs
  rm -rf "$ctx"
  mkdir -p "$ctx/site" "$ctx/extra"
  log "installing $(grep -v '^\s*#' "$IMAGE_INPUTS_DIR/moto-requirements.txt" | xargs) into the moto image"
  # The boto3 family is constrained to the same pins as the Lambda image.
  pip_install_target "$ctx/site" -r "$IMAGE_INPUTS_DIR/moto-requirements.txt" -c "$IMAGE_INPUTS_DIR/requirements.txt"
  rm -rf "$ctx/site/bin"
  find "$ctx/site" -name __pycache__ -prune -exec rm -rf {} +
  # Byte-code keeps the server's start at a few seconds; cfn-lint and its sympy/networkx
  # (only loaded for CloudFormation) are left uncompiled, which saves ~60 MB.
  "$PY_BIN" -m compileall -q -j 0 -s "$ctx/site" -p /opt/moto \
    -x '/(cfnlint|sympy|networkx|mpmath)/' "$ctx/site" >/dev/null || true
  # Shared libraries the compiled wheels need that the base image lacks.
  mapfile -t sos < <(find "$ctx/site" -name '*.so*' -type f)
  mapfile -t libs < <(elf_deps "$ctx/site" "${sos[@]}" | grep -vxF -f "$CACHE_DIR/base-libs.txt" || true)
  if [ "${#libs[@]}" -gt 0 ] && [ -n "${libs[0]}" ]; then
    log "extra libraries for moto: ${libs[*]}"
    copy_into_root "$ctx/extra" "${libs[@]}"
  fi
  cat >"$ctx/Containerfile" <<EOF
FROM $LAMBDA_IMAGE
COPY extra/ /
COPY site/ /opt/moto/
ENV PYTHONPATH=/opt/moto
WORKDIR /tmp
EXPOSE 5000
ENTRYPOINT ["/var/lang/bin/python3.13", "-m", "moto.server"]
CMD ["-H", "0.0.0.0", "-p", "5000"]
LABEL $LABEL_STANDIN=true $LABEL_HASH=$hash
EOF
  podman build --pull=never --network=none -q -t "$MOTO_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
}
#@moto-build-end

moto_hash="$(
  {
    script_section moto-build
    cat "$IMAGE_INPUTS_DIR/moto-requirements.txt" "$IMAGE_INPUTS_DIR/requirements.txt"
    echo "$lambda_hash"
  } | sha256sum | cut -c1-32
)"
if [ "${ASYNCRUN_FORCE_REBUILD:-0}" != 1 ] && [ "$(image_label "$MOTO_IMAGE" "$LABEL_HASH")" = "$moto_hash" ]; then
  log "$MOTO_IMAGE is up to date ($moto_hash)"
else
  [ -f "$CACHE_DIR/base-libs.txt" ] || : >"$CACHE_DIR/base-libs.txt"
  log "building moto image $MOTO_IMAGE ($moto_hash)"
  old_id="$(image_id "$MOTO_IMAGE")"
  build_moto_image "$moto_hash"
  drop_old_image "$old_id" "$MOTO_IMAGE"
  echo "$moto_hash" >"$CACHE_DIR/moto-image.stamp"
  log "built $MOTO_IMAGE: $(podman image inspect --format '{{.Size}}' "$MOTO_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
fi

# ---------------------------------------------------------------------------
# 7. The network functions and moto share (container names resolve by DNS)
# ---------------------------------------------------------------------------
if podman network exists "$NETWORK_NAME" 2>/dev/null; then
  if [ "$(podman network inspect --format '{{.DNSEnabled}}' "$NETWORK_NAME" 2>/dev/null)" != true ]; then
    log "network $NETWORK_NAME has no DNS; recreating it"
    podman network rm "$NETWORK_NAME" >/dev/null || die "cannot recreate $NETWORK_NAME (containers attached?)"
    podman network create "$NETWORK_NAME" >/dev/null
  else
    log "network $NETWORK_NAME exists (DNS on)"
  fi
else
  log "creating network $NETWORK_NAME"
  podman network create "$NETWORK_NAME" >/dev/null
fi
[ "$(podman network inspect --format '{{.DNSEnabled}}' "$NETWORK_NAME")" = true ] \
  || die "network $NETWORK_NAME was created without DNS (is aardvark-dns installed?)"

# ---------------------------------------------------------------------------
# 8. Tell the caller
# ---------------------------------------------------------------------------
log "ready: DOCKER_HOST=$PODMAN_DOCKER_HOST, image $LAMBDA_IMAGE, moto image $MOTO_IMAGE, network $NETWORK_NAME"
printf 'DOCKER_HOST=%s\n' "$PODMAN_DOCKER_HOST"
