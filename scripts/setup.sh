#!/usr/bin/env bash
# Idempotent setup for Auralis: system packages (FluidSynth, FluidR3 GM SoundFont,
# for a cluster nginx and redis-server, and for tests Chromium and ffmpeg too) and a .venv with
# the package. Fast when everything is already present.
#   scripts/setup.sh            runtime only (make run)
#   scripts/setup.sh --cluster  runtime + nginx and redis-server (make cluster)
#   scripts/setup.sh --test     runtime + cluster + test tools (make test)
set -euo pipefail
cd "$(dirname "$0")/.."

WANT_TEST=0
WANT_CLUSTER=0
[ "${1:-}" = "--test" ] && { WANT_TEST=1; WANT_CLUSTER=1; }
[ "${1:-}" = "--cluster" ] && WANT_CLUSTER=1

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

have_lib_fluidsynth() {
  ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so' && return 0
  [ -e /opt/homebrew/lib/libfluidsynth.dylib ] || [ -e /usr/local/lib/libfluidsynth.dylib ]
}

have_soundfont() {
  [ -r /usr/share/sounds/sf2/FluidR3_GM.sf2 ] && return 0
  ls ./soundfonts/*.sf2 >/dev/null 2>&1 && return 0
  [ -n "${AURALIS_SOUNDFONT:-}" ] && [ -r "${AURALIS_SOUNDFONT}" ]
}

apt_pkgs=()
brew_pkgs=()
if ! have_lib_fluidsynth || ! command -v fluidsynth >/dev/null 2>&1; then
  apt_pkgs+=(fluidsynth libfluidsynth3); brew_pkgs+=(fluid-synth)
fi
if ! have_soundfont; then apt_pkgs+=(fluid-soundfont-gm); fi
if [ "$WANT_CLUSTER" = 1 ]; then
  # nginx in front of the instances, redis-server for what they share (docs/deploy.md)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { apt_pkgs+=(nginx); brew_pkgs+=(nginx); }
  command -v redis-server >/dev/null 2>&1 || { apt_pkgs+=(redis-server); brew_pkgs+=(redis); }
fi
if [ "$WANT_TEST" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
  command -v node >/dev/null 2>&1 || { apt_pkgs+=(nodejs); brew_pkgs+=(node); }
  # ffmpeg/ffprobe: an independent decoder the tests check our Opus and recordings with
  command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || { apt_pkgs+=(ffmpeg); brew_pkgs+=(ffmpeg); }
  # strace: bench/bench_metrics_path.py counts the event loop's system calls per /api/metrics (Linux)
  if [ "$(uname -s)" = Linux ]; then command -v strace >/dev/null 2>&1 || apt_pkgs+=(strace); fi
fi

if [ "${#apt_pkgs[@]}" -gt 0 ] || [ "${#brew_pkgs[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "${#apt_pkgs[@]}" -gt 0 ]; then
      echo "setup: installing ${apt_pkgs[*]} (apt-get)"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
    fi
  elif command -v brew >/dev/null 2>&1; then
    if [ "${#brew_pkgs[@]}" -gt 0 ]; then
      echo "setup: installing ${brew_pkgs[*]} (brew)"
      brew install "${brew_pkgs[@]}"
    fi
    if ! have_soundfont; then
      echo "setup: no GM SoundFont found. Put FluidR3_GM.sf2 into ./soundfonts/ or set AURALIS_SOUNDFONT." >&2
    fi
  else
    echo "setup: please install: ${apt_pkgs[*]}" >&2
    exit 1
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
extras="."
[ "$WANT_TEST" = 1 ] && extras=".[test]"
stamp=".venv/.auralis-setup-$WANT_TEST"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python package ($extras)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e "$extras"
  touch "$stamp"
fi
