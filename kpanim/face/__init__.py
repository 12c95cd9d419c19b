"""The face model: MediaPipe mesh constants, geometry, the neutral-face fit and the morph basis."""
