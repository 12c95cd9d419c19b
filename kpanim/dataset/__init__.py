"""Training data: preparing talking-face videos into clips and the dataset index."""
