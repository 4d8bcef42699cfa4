#!/usr/bin/env bash
# Prints a directory to put on PYTHONPATH so that a Python that is not
# Debian's (pyenv, a python.org build) finds what building and testing the
# durlog package needs from Debian's pure-Python packages (python3-setuptools,
# python3-wheel, python3-pytest): there is no PyPI to fetch them from. Only
# the modules it lacks are lent, as links into /usr/lib/python3/dist-packages.
#   usage: PYTHONPATH=$(scripts/pyshim.sh [python3]) python3 -m pip install \
#              --no-build-isolation ./python
set -eu
py=${1:-python3}
dist=/usr/lib/python3/dist-packages
shim=${TMPDIR:-/tmp}/durlog-pyshim-$(id -u)-$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
mkdir -p "$shim"
lend() { # module, then the names (files or directories) that make it up
    local mod=$1; shift
    "$py" -c "import $mod" 2>/dev/null && return 0
    local n m
    for n in "$@"; do
        [ -e "$dist/$n" ] && ln -sfn "$dist/$n" "$shim/$n"
    done
    # Its metadata too: setuptools finds wheel's bdist_wheel, and pytest
    # its plugins, through their entry points.
    for m in "$dist/$1"-*.egg-info "$dist/$1"-*.dist-info; do
        [ -e "$m" ] && ln -sfn "$m" "$shim/${m##*/}"
    done
    return 0
}
lend setuptools setuptools pkg_resources _distutils_hack
lend wheel wheel
lend packaging packaging
lend pluggy pluggy
lend iniconfig iniconfig
lend py py py.py
# pytest's own dependencies: attrs (which the Python may lack), and on
# Pythons before 3.11 tomli and exceptiongroup (Debian's python3-tomli and
# python3-exceptiongroup: scripts/deps.sh).
lend attr attrs attr
lend tomli tomli
lend exceptiongroup exceptiongroup
lend pytest pytest _pytest
echo "$shim"
