"""The classifiers as plain ``torch.nn.Module`` s (the CNN and the D-MPNN) and the
featurization of a frame window into a graph, apart from the models."""
