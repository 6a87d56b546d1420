#!/bin/sh
cd '/work/wt/idem' && exec '/work/wt/idem/.venv/bin/python' -m bench.fuzz --worker decoder --passthrough "$@"
