"""kpanim.blender_addon (see README)."""
