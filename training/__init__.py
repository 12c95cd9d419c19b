"""kpanim.training (see README)."""
