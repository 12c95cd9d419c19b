"""kpanim's networks, one per file: MODA (audio → keypoint streams), FaCo-Net (→ dense mesh) and their helpers."""
