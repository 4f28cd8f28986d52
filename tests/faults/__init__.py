"""The fault suite (crashes, server faults) and bad-input suite of delete-version."""
