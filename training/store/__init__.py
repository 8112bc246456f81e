"""The model store, write side: a version folder staged and published all-or-nothing, the
probe learners, and the publishing of a trained model (the read side: training.runtime.loader)."""
