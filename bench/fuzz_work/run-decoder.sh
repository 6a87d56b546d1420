#!/bin/sh
cd '/work/main' && exec '/work/main/.venv/bin/python' -m bench.fuzz --worker decoder --passthrough "$@"
