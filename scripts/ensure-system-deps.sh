#!/usr/bin/env bash
# Installs the Debian packages listed in .ci/packages.txt that are not installed yet, so that
# `npm test` (which runs this first, as `pretest`) passes on a fresh machine with nothing installed
# by hand, and .ci/run needs no list of its own. Quick when everything is there (one dpkg-query).
#
# As root: apt-get installs what is missing. Otherwise: through `sudo -n` when that works without a
# password, else it names the packages and the command, and fails. Not Debian (no dpkg): it says
# so and carries on. DIGESTMAIL_SKIP_SYSTEM_DEPS=1 skips it (e.g. to run one test file that needs none).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${DIGESTMAIL_SKIP_SYSTEM_DEPS:-}" = "1" ] && exit 0

wanted=()
while read -r line; do
  package="${line%%#*}"
  package="${package//[[:space:]]/}"
  [ -n "$package" ] && wanted+=("$package")
done < .ci/packages.txt
[ ${#wanted[@]} -eq 0 ] && exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "ensure-system-deps: not a Debian system; the tests expect these packages: ${wanted[*]}" >&2
  exit 0
fi

missing=()
installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)"
for package in "${wanted[@]}"; do
  grep -q "^${package} install ok installed$" <<<"$installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "ensure-system-deps: the tests need these Debian packages: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  echo "  (or set DIGESTMAIL_SKIP_SYSTEM_DEPS=1 to run tests that need none of them)" >&2
  exit 1
fi

echo "ensure-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt (a second test run installing the same packages) holds the lock for a while: wait for it.
apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
"${sudo[@]}" "${apt[@]}" update
"${sudo[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
