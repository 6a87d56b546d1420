"""Firmware delivery: image build and verify, USB provisioning, over-the-link flashing, fleet rollout.

The image layout and the verifier live in firmware/update_image.py, shared with the boards.
"""
