"""kpanim.renderer (see README)."""
