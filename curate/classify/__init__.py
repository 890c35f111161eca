"""Quality classifiers: training (Lightning), evaluation (scikit-learn), export and runtime."""
