"""Speech → animation: prediction, real-time streaming, the viseme prior and ARKit blendshapes."""
