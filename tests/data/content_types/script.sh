#!/bin/sh
set -eu
for f in "$@"; do
    mcard import "$f"
done
