"""Networks: the EfficientNet encoder with geometry and texture heads, the hourglass 2D branch, and S2HAND."""
