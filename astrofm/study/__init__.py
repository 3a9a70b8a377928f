"""Studies: a grid of backbones, heads, tunings and variants run and reported as one."""
