"""The model stage: the k sweep and its stability, the choice of k, K-Means, the hierarchical
reference, the comparison of the two, segment ids, and the scikit-learn pipeline."""
