# Sourced by scripts/test and scripts/run: the Debian packages Ionto needs beyond Python.
# Installs what is missing with apt-get when running as root; otherwise says what to install.
# IONTO_NEEDS (set before sourcing) names what the caller needs: "letters" (the service),
# "browser" and "postgresql" (the tests); all three by default.
#   chromium             the browser the end-to-end tests drive (Playwright, headless)
#   postgresql (server)  the throwaway cluster the test suite runs the service against
#   libpango-1.0-0 …     what WeasyPrint needs to lay out the letters as PDF
ionto_missing_packages() {
  local needs=" ${IONTO_NEEDS:-letters browser postgresql} " missing=()
  if [[ $needs == *" browser "* ]]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fi
  if [[ $needs == *" postgresql "* ]]; then
    { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } \
      || missing+=(postgresql)
  fi
  if [[ $needs == *" letters "* ]]; then
    ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so.0' || missing+=(libpango-1.0-0)
    ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || missing+=(libpangoft2-1.0-0)
  fi
  echo "${missing[@]}"
}
IONTO_MISSING="$(ionto_missing_packages)"
if [ -n "$IONTO_MISSING" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ionto: installing Debian packages: $IONTO_MISSING" >&2
    apt-get update -qq >&2
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $IONTO_MISSING >&2
  else
    echo "ionto: please install these Debian packages first: $IONTO_MISSING" >&2
    exit 1
  fi
fi
