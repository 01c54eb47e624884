"""The paper's datasets made from the campaign file: selections, images, graphs, the
structural metrics of Fig. 7 and the artificial frames of the timing figure."""
