"""Firmware delivery: image build and verify, USB provisioning, over-the-link flashing, fleet rollout.

The image layout and the verifier live in firmware/fwimage.py, shared with the boards.
"""
