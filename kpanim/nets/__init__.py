"""kpanim's networks, one per file: audio front-ends, MODA (audio → keypoint streams), FaCo-Net (→ dense mesh)."""
