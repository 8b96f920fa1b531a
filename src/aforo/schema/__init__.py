"""Strawberry types, inputs, payload unions, the request Context and dataloaders."""
