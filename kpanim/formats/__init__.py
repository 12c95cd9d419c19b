"""Files in and out: the animation .npz, glTF export and import, checkpoints, atomic writes."""
