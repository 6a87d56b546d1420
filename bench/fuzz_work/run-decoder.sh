#!/bin/sh
cd '/work/wt/integ' && exec '/work/wt/integ/.venv/bin/python' -m bench.fuzz --worker decoder --passthrough "$@"
